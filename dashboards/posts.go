package dashboards

import (
	"context"
	"fmt"
	"time"
)

// A Post is one event of a feed — a release, a petition opened or closed — worded in every
// language of the pages, for the node's ActivityPub actors. It carries exactly what the Atom
// feed's entry says, and nothing else.
type Post struct {
	// Tag is the entry's permanent id, the feed's tag URI.
	Tag string
	// Event names the event under the tag ("release/air/2026-03-02", "petition/p1/closed").
	Event string
	// At is when it happened (a release's closing, a petition's opening or closing).
	At time.Time
	// Kind is "release" or "petition".
	Kind string
	// Title, Summary and Link (the public page) in each language, by language code ("en").
	Title, Summary, Link map[string]string
}

// Languages are the codes of the languages posts are worded in, the default first.
func Languages() []string {
	out := make([]string, len(languages))
	for i, l := range languages {
		out[i] = string(l)
	}
	return out
}

// Neighbourhoods returns the neighbourhood ids of the grid, in document order.
func (p *Pages) Neighbourhoods() []string { return p.city.ids() }

// NeighbourhoodName returns a neighbourhood's name (its id if the grid names none).
func (p *Pages) NeighbourhoodName(id string) string { return p.city.name(id) }

// Posts returns the events of the city's feed (neighbourhood "") or of one neighbourhood's,
// newest first, with links under base: the same entries the Atom feeds list.
func (p *Pages) Posts(ctx context.Context, base, neighbourhood string) ([]Post, error) {
	s := feedScope{id: neighbourhood}
	if neighbourhood != "" {
		s.name = p.city.name(neighbourhood)
	}
	var out []Post
	for i, l := range languages {
		entries, err := p.feedEntries(ctx, l, base, s)
		if err != nil {
			return nil, fmt.Errorf("dashboards: posts: %w", err)
		}
		for j, e := range entries {
			if i == 0 {
				out = append(out, Post{Tag: e.ID, Event: e.what, At: e.at, Kind: e.Category.Term,
					Title: map[string]string{}, Summary: map[string]string{}, Link: map[string]string{}})
			}
			if j >= len(out) || out[j].Tag != e.ID {
				return nil, fmt.Errorf("dashboards: posts: the %s feed changed while it was read", l)
			}
			out[j].Title[string(l)], out[j].Summary[string(l)], out[j].Link[string(l)] = e.Title, e.Summary, e.Links[0].Href
		}
	}
	return out, nil
}
