package dashboards

import (
	"cmp"
	"context"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/petition"
	"github.com/commons-city/commons/release"
)

// Atom feeds (RFC 4287) of the city and of each neighbourhood: every release, with its
// figures in words, and every petition opened or closed. They say only what the pages say.

// feedDays and feedWeeks are how many of the latest daily and weekly releases a feed lists;
// feedPetitions how many petition events.
const (
	feedDays      = 30
	feedWeeks     = 8
	feedPetitions = 20
)

// FeedPath is the city's feed; NeighbourhoodFeedPath(id) a neighbourhood's.
const FeedPath = "/feed.atom"

// NeighbourhoodFeedPath is the path of a neighbourhood's feed.
func NeighbourhoodFeedPath(id string) string { return "/neighbourhoods/" + id + "/feed.atom" }

// atomType is the media type of an Atom feed.
const atomType = "application/atom+xml"

type atomFeed struct {
	XMLName   xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Lang      string      `xml:"xml:lang,attr"`
	ID        string      `xml:"id"`
	Title     string      `xml:"title"`
	Subtitle  string      `xml:"subtitle"`
	Updated   string      `xml:"updated"`
	Author    atomPerson  `xml:"author"`
	Generator string      `xml:"generator"`
	Links     []atomLink  `xml:"link"`
	Entries   []atomEntry `xml:"entry"`
}

type atomPerson struct {
	Name string `xml:"name"`
	URI  string `xml:"uri"`
}

type atomLink struct {
	Rel      string `xml:"rel,attr"`
	Type     string `xml:"type,attr,omitempty"`
	Href     string `xml:"href,attr"`
	HrefLang string `xml:"hreflang,attr,omitempty"`
	Title    string `xml:"title,attr,omitempty"`
}

type atomCategory struct {
	Term  string `xml:"term,attr"`
	Label string `xml:"label,attr"`
}

type atomEntry struct {
	ID       string       `xml:"id"`
	Title    string       `xml:"title"`
	Updated  string       `xml:"updated"`
	Category atomCategory `xml:"category"`
	Links    []atomLink   `xml:"link"`
	Summary  string       `xml:"summary"`

	at   time.Time // Updated, for sorting
	what string    // the event part of ID, after the date
}

// feedScope is what one feed covers: the whole city, or one neighbourhood.
type feedScope struct {
	id, name string // empty id: the city
}

// Feed answers the city's Atom feed, in the language of ?lang= or Accept-Language.
func (p *Pages) Feed(c *fiber.Ctx) error {
	return p.feed(c, feedScope{})
}

// NeighbourhoodFeed answers the Atom feed of the neighbourhood :id.
func (p *Pages) NeighbourhoodFeed(c *fiber.Ctx) error {
	id := c.Params("id")
	if !slices.Contains(p.city.ids(), id) {
		l := pickLang(c)
		return p.notFound(c, l, l.t("There is no neighbourhood with this id."))
	}
	return p.feed(c, feedScope{id: id, name: p.city.name(id)})
}

func (p *Pages) feed(c *fiber.Ctx, s feedScope) error {
	l := pickLang(c)
	base := c.BaseURL()
	entries, err := p.feedEntries(c.UserContext(), l, base, s)
	if err != nil {
		return fmt.Errorf("dashboards: feed: %w", err)
	}
	self, page, title := FeedPath, "/air", l.t("Commons: air quality and petitions in the city")
	if s.id != "" {
		self, page, title = NeighbourhoodFeedPath(s.id), "/air", l.t("Commons: air quality and petitions in %s", s.name)
	}
	f := atomFeed{
		Lang: string(l), ID: base + self, Title: title,
		Subtitle:  l.t("Every release of the city's air-quality figures and every petition opened or closed. Figures carry noise that protects each resident."),
		Author:    atomPerson{Name: "Commons", URI: base + "/"},
		Generator: "Commons",
		Links: []atomLink{
			{Rel: "self", Type: atomType, Href: base + self + "?lang=" + string(l)},
			{Rel: "alternate", Type: "text/html", Href: base + page + "?lang=" + string(l)},
		},
		Entries: entries,
	}
	for _, other := range languages {
		if other != l {
			f.Links = append(f.Links, atomLink{Rel: "alternate", Type: atomType, Href: base + self + "?lang=" + string(other), HrefLang: string(other)})
		}
	}
	updated := time.Unix(0, 0).UTC()
	if len(entries) > 0 {
		updated = entries[0].at
	}
	f.Updated = updated.Format(time.RFC3339)
	out, err := xml.MarshalIndent(f, "", " ")
	if err != nil {
		return fmt.Errorf("dashboards: feed: %w", err)
	}
	c.Set(fiber.HeaderContentType, atomType+"; charset=utf-8")
	c.Set(fiber.HeaderVary, "Accept-Language, Cookie")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.Send(append([]byte(xml.Header), out...))
}

// feedLinks are the feeds every page names in its head, for feed readers to find.
func (p *Pages) feedLinks(l lang) []atomLink {
	links := []atomLink{{Rel: "alternate", Type: atomType, Href: FeedPath + "?lang=" + string(l), Title: l.t("Commons: air quality and petitions in the city")}}
	for _, id := range p.city.ids() {
		links = append(links, atomLink{Rel: "alternate", Type: atomType, Href: NeighbourhoodFeedPath(id) + "?lang=" + string(l),
			Title: l.t("Commons: air quality and petitions in %s", p.city.name(id))})
	}
	return links
}

// feedEntries are a feed's entries, newest first.
func (p *Pages) feedEntries(ctx context.Context, l lang, base string, s feedScope) ([]atomEntry, error) {
	days, weeks, err := p.released()
	if err != nil {
		return nil, err
	}
	grace := 0
	if purpose, ok := p.src.State.Purpose(p.src.AirPurpose); ok {
		grace = purpose.Release.GraceHours
	}
	var out []atomEntry
	for _, day := range days[len(days)-min(len(days), feedDays):] {
		d, err := p.release(day)
		if err != nil {
			return nil, err
		}
		at, err := release.Closes(day, grace)
		if err != nil {
			return nil, err
		}
		e := p.releaseEntry(ctx, l, base, day, "/air?day="+day, at)
		e.Title, e.Summary = p.daySummary(l, s, d)
		out = append(out, e)
	}
	for _, week := range weeks[len(weeks)-min(len(weeks), feedWeeks):] {
		w, err := p.week(week)
		if err != nil {
			return nil, err
		}
		at, err := release.WeekCloses(week, grace)
		if err != nil {
			return nil, err
		}
		e := p.releaseEntry(ctx, l, base, week, "/air?day="+w.To, at)
		e.Title, e.Summary = p.weekSummary(l, s, w)
		out = append(out, e)
	}
	out = append(out, p.petitionEntries(l, base, s)...)
	slices.SortStableFunc(out, func(a, b atomEntry) int { return b.at.Compare(a.at) })
	for i := range out {
		out[i].Updated = out[i].at.Format(time.RFC3339)
	}
	return out, nil
}

// releaseEntry is the entry of the release of epoch shown at page, with a link to its ledger
// entry once it is logged.
func (p *Pages) releaseEntry(ctx context.Context, l lang, base, epoch, page string, at time.Time) atomEntry {
	e := atomEntry{
		ID:       p.tag(at, "release/"+p.src.AirPurpose+"/"+epoch),
		what:     "release/" + p.src.AirPurpose + "/" + epoch,
		Category: atomCategory{Term: "release", Label: l.t("Air quality")},
		Links:    []atomLink{{Rel: "alternate", Type: "text/html", Href: base + page + "&lang=" + string(l)}},
		at:       at,
	}
	if i, ok, err := p.entries.find(ctx, p.src.Ledger, epoch); err == nil && ok {
		e.Links = append(e.Links, atomLink{Rel: "related", Type: "application/json", Href: base + entryURL(i), Title: l.t("Its entry in the ledger")})
	}
	return e
}

// daySummary words a daily release for the city, or for one neighbourhood.
func (p *Pages) daySummary(l lang, s feedScope, d release.AirDay) (title, summary string) {
	date := l.longDate(d.Epoch)
	if s.id != "" {
		cell := cellsByID(d.Cells)[s.id]
		return l.t("Air quality in %s on %s", s.name, date), l.cellWords(s.name, cell, d.Units.PM, d.Rounding)
	}
	shown := 0
	for _, c := range d.Cells {
		if c.PM25 != nil || c.PM25Band != "" {
			shown++
		}
	}
	summary = l.t("%d of %d neighbourhoods have a PM2.5 figure.", shown, len(p.city.ids()))
	if d.City != nil {
		summary = l.cellWords(l.t("The whole city"), *d.City, d.Units.PM, d.Rounding) + " " + summary
	}
	return l.t("Air quality on %s", date), summary
}

// weekSummary words a weekly release for the city, or for one neighbourhood.
func (p *Pages) weekSummary(l lang, s feedScope, w release.AirWeek) (title, summary string) {
	from, to := l.longDate(w.From), l.longDate(w.To)
	if s.id != "" {
		cell := cellsByID(w.Cells)[s.id]
		return l.t("Air quality in %s, week from %s to %s", s.name, from, to), l.cellWords(s.name, cell, w.Units.PM, w.Rounding)
	}
	return l.t("Air quality in the city, week from %s to %s", from, to), l.cellWords(l.t("The whole city"), w.City, w.Units.PM, w.Rounding)
}

// cellWords says a cell's PM2.5 figure in a sentence: a mean with its interval and band, a
// band alone, or that nothing was published (a suppressed cell, or no cell).
func (l lang) cellWords(where string, c release.Cell, unit string, rounding float64) string {
	dec := decimals(rounding)
	switch {
	case c.Suppressed: // whatever else the cell carries
	case c.PM25 != nil:
		s := l.t("%s — fine particles (PM2.5): %s %s, %s.", where, l.withCI(c.PM25, c.PM25CI, dec), unit, l.t(bandOf(*c.PM25).Label))
		if c.PM10 != nil {
			s += " " + l.t("Coarser particles (PM10): %s %s.", l.withCI(c.PM10, c.PM10CI, dec), unit)
		}
		return s
	case c.PM25Band != "":
		if b, ok := bandNamed(c.PM25Band); ok {
			return l.t("%s — fine particles (PM2.5): %s (a band only: too few residents for a mean).", where, l.t(b.Label))
		}
	}
	return l.t("%s — not enough data: no figure is published.", where)
}

// petitionEntries are the latest petition events a feed covers: openings and closings up to
// now, of petitions whose scope includes the neighbourhood (every petition for the city).
func (p *Pages) petitionEntries(l lang, base string, s feedScope) []atomEntry {
	now := p.src.Now()
	var out []atomEntry
	for _, pt := range p.src.State.Petitions() {
		if s.id != "" && len(pt.Scope) > 0 && !slices.Contains(pt.Scope, s.id) {
			continue
		}
		event := func(at time.Time, what, title, summary string) atomEntry {
			return atomEntry{
				ID: p.tag(at, "petition/"+pt.ID+"/"+what), at: at.UTC(), what: "petition/" + pt.ID + "/" + what, Title: title, Summary: summary,
				Category: atomCategory{Term: "petition", Label: l.t("Petitions")},
				Links:    []atomLink{{Rel: "alternate", Type: "text/html", Href: base + "/petitions/" + pt.ID + "?lang=" + string(l)}},
			}
		}
		if !now.Before(pt.Opens) {
			out = append(out, event(pt.Opens, "opened", l.t("Petition opened: %s", pt.Title),
				l.t("Open for signatures until %s, to residents of %s. It needs %s.", l.dateTime(pt.Closes), cmp.Or(p.scope(l, pt.Scope), l.t("the whole city")), l.signatures(pt.Threshold))))
		}
		if petition.Status(&pt.Petition, now) == petition.StatusClosed {
			out = append(out, event(pt.Closes, "closed", l.t("Petition closed: %s", pt.Title), closedWords(l, pt)))
		}
	}
	slices.SortStableFunc(out, func(a, b atomEntry) int { return b.at.Compare(a.at) })
	return out[:min(len(out), feedPetitions)]
}

// closedWords says how a petition ended: its final count against its threshold.
func closedWords(l lang, pt *state.Petition) string {
	total := pt.Total()
	if total >= pt.Threshold {
		return l.t("It closed with %s, of %s needed: the threshold was reached.", l.signatures(total), l.signatures(pt.Threshold))
	}
	return l.t("It closed with %s, of %s needed: the threshold was not reached.", l.signatures(total), l.signatures(pt.Threshold))
}

// signatures says a number of signatures with the right plural.
func (l lang) signatures(n int) string {
	if n == 1 {
		return l.t("1 signature")
	}
	return l.t("%s signatures", l.num(float64(n), 0))
}

// tag is an entry's permanent id, a tag URI (RFC 4151) under the ledger's origin, dated with
// the event: it stays the same whatever address the node is reached at.
func (p *Pages) tag(at time.Time, what string) string {
	authority, _, _ := strings.Cut(p.src.Ledger.Origin(), "/")
	return "tag:" + cmp.Or(strings.ToLower(authority), "commons.invalid") + "," + at.UTC().Format(time.DateOnly) + ":" + what
}
