package dashboards

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/release"
)

// feedRead is what the tests read of a feed.
type feedRead struct {
	Lang    string `xml:"lang,attr"`
	ID      string `xml:"id"`
	Title   string `xml:"title"`
	Updated string `xml:"updated"`
	Links   []struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	} `xml:"link"`
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Summary string `xml:"summary"`
		Links   []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"link"`
	} `xml:"entry"`
}

func readFeed(t *testing.T, h *harness, path string) (feedRead, string) {
	t.Helper()
	resp, body := fetch(t, h, path)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, "application/atom+xml; charset=utf-8", resp.Header.Get("Content-Type"))
	var f feedRead
	require.NoError(t, xml.Unmarshal([]byte(body), &f))
	return f, body
}

func TestCityFeedWordsEveryReleaseAndPetitionEvent(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	f, body := readFeed(t, h, "/feed.atom")
	assert.Equal(t, "en", f.Lang)
	titles := make([]string, len(f.Entries))
	for i, e := range f.Entries {
		titles[i] = e.Title
	}
	assert.Equal(t, []string{
		"Air quality on Friday 2 October 2026",
		"Air quality on Thursday 1 October 2026",
		"Petition opened: Trees for the river",
		"Petition closed: A closed petition",
		"Petition opened: A closed petition",
	}, titles, "newest first")
	assert.Equal(t, f.Entries[0].Updated, f.Updated, "the feed is as new as its newest entry")

	day1 := f.Entries[1]
	assert.Equal(t, "2 of 3 neighbourhoods have a PM2.5 figure.", day1.Summary)
	assert.Equal(t, "tag:test.commons.local,2026-10-02:release/"+airPurpose+"/2026-10-01", day1.ID)
	require.Len(t, day1.Links, 2)
	assert.Equal(t, "http://example.com/air?day=2026-10-01&lang=en", day1.Links[0].Href)
	assert.Equal(t, "related", day1.Links[1].Rel)
	assert.Regexp(t, `^http://example.com/api/v1/ledger/entries/\d+$`, day1.Links[1].Href)

	assert.Equal(t, "It closed with 2 signatures, of 2 signatures needed: the threshold was reached.", f.Entries[3].Summary)
	assert.Contains(t, f.Entries[2].Summary, "to residents of North Hill and South Docks. It needs 100 signatures.")

	for _, secret := range []string{"nullifier-secret", "c-organiser", "age1tally", "66.6", "99.9"} {
		assert.NotContains(t, body, secret, "a feed says only what the pages say")
	}
}

func TestNeighbourhoodFeedHasItsFiguresAndItsPetitions(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	f, body := readFeed(t, h, NeighbourhoodFeedPath("east"))
	assert.Equal(t, "Commons: air quality and petitions in East <Island>", f.Title)
	var summaries []string
	for _, e := range f.Entries {
		summaries = append(summaries, e.Title+" | "+e.Summary)
	}
	assert.Equal(t, []string{
		"Air quality in East <Island> on Friday 2 October 2026 | East <Island> — not enough data: no figure is published.",
		"Air quality in East <Island> on Thursday 1 October 2026 | East <Island> — fine particles (PM2.5): 55.5 µg/m³, very poor. Coarser particles (PM10): 80.2 µg/m³.",
		"Petition closed: A closed petition | It closed with 2 signatures, of 2 signatures needed: the threshold was reached.",
		"Petition opened: A closed petition | Open for signatures until 15 September 2026, 12:00 UTC, to residents of the whole city. It needs 2 signatures.",
	}, summaries, "east is outside the river petition's scope; its suppressed day says nothing of the values the cell carries")
	assert.NotContains(t, body, "66.6")
	assert.Contains(t, body, "East &lt;Island&gt;", "names are escaped")

	resp, _ := fetch(t, h, NeighbourhoodFeedPath("nowhere"))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestFeedInFrench(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	f, body := readFeed(t, h, "/feed.atom?lang=fr")
	assert.Equal(t, "fr", f.Lang)
	assert.Equal(t, "Commons : qualité de l'air et pétitions dans la ville", f.Title)
	assert.Equal(t, "Qualité de l'air le vendredi 2 octobre 2026", f.Entries[0].Title)
	assert.Equal(t, "2 quartiers sur 3 ont un chiffre de PM2,5.", f.Entries[1].Summary)
	assert.Equal(t, "Elle a fermé avec 2 signatures, sur 2 signatures nécessaires : le seuil est atteint.", f.Entries[3].Summary)
	for _, english := range []string{"Air quality", "Petition", "neighbourhoods", "signatures until", "threshold"} {
		assert.NotContains(t, body, english)
	}
}

// A weekly release with a city figure is worded for the city and for each neighbourhood.
func TestFeedWordsWeeklyReleases(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	w := airWeek()
	w.Epoch, w.From, w.To = "2026-W40", "2026-09-28", "2026-10-04"
	w.City = release.Cell{Contributors: 40, PM25: ptr(11.04), PM25CI: &[2]float64{9.5, 12.6}}
	w.Cells = []release.Cell{{Neighbourhood: "north", PM25Band: "good"}}
	h.publishWeek(t, w)
	f, _ := readFeed(t, h, "/feed.atom")
	require.NotEmpty(t, f.Entries)
	week := f.Entries[0]
	assert.Equal(t, "Air quality in the city, week from Monday 28 September 2026 to Sunday 4 October 2026", week.Title)
	assert.Equal(t, "The whole city — fine particles (PM2.5): 11.0 (9.5–12.6) µg/m³, fair.", week.Summary)
	north, _ := readFeed(t, h, NeighbourhoodFeedPath("north"))
	assert.Equal(t, "North Hill — fine particles (PM2.5): good (a band only: too few residents for a mean).", north.Entries[0].Summary)
}

// Every page names the city's feed and each neighbourhood's in its head, in its language.
func TestEveryPageLinksTheFeeds(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	for _, path := range []string{"/", "/air", "/petitions", "/ledger", "/about/accuracy"} {
		body := h.get(t, path, http.StatusOK)
		assert.Contains(t, body, `<link rel="alternate" type="application/atom+xml" href="/feed.atom?lang=en" title="Commons: air quality and petitions in the city">`, path)
		assert.Contains(t, body, `href="/neighbourhoods/east/feed.atom?lang=en" title="Commons: air quality and petitions in East &lt;Island&gt;"`, path)
	}
	_, fr := fetch(t, h, "/air?lang=fr")
	assert.Contains(t, fr, `href="/feed.atom?lang=fr"`)
}

// A petition that closed short of its threshold says so, with the singular of one signature.
func TestFeedSaysAPetitionMissedItsThreshold(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	opens, err := time.Parse(time.RFC3339, "2026-09-01T12:00:00Z")
	require.NoError(t, err)
	h.createPetition(t, api.Petition{ID: "short", Title: "Too few", Text: "Short.", Opens: opens, Closes: opens.AddDate(0, 0, 10), Threshold: 5}, 1)
	f, _ := readFeed(t, h, "/feed.atom")
	var closed []string
	for _, e := range f.Entries {
		if e.Title == "Petition closed: Too few" {
			closed = append(closed, e.Summary)
		}
	}
	assert.Equal(t, []string{"It closed with 1 signature, of 5 signatures needed: the threshold was not reached."}, closed)
}

// The posts of the ActivityPub actors are the Atom feeds' entries, in every language.
func TestPostsAreTheFeedsInEveryLanguage(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	assert.Equal(t, []string{"en", "fr"}, Languages())
	assert.Equal(t, []string{"north", "south", "east"}, h.pages.Neighbourhoods())
	assert.Equal(t, "East <Island>", h.pages.NeighbourhoodName("east"))
	for neighbourhood, path := range map[string]string{"": FeedPath, "east": NeighbourhoodFeedPath("east")} {
		posts, err := h.pages.Posts(context.Background(), "http://example.com", neighbourhood)
		require.NoError(t, err)
		en, _ := readFeed(t, h, path+"?lang=en")
		fr, _ := readFeed(t, h, path+"?lang=fr")
		require.Len(t, posts, len(en.Entries), path)
		for i, p := range posts {
			assert.Equal(t, en.Entries[i].ID, p.Tag, path)
			assert.Equal(t, map[string]string{"en": en.Entries[i].Title, "fr": fr.Entries[i].Title}, p.Title, path)
			assert.Equal(t, map[string]string{"en": en.Entries[i].Summary, "fr": fr.Entries[i].Summary}, p.Summary, path)
			assert.Equal(t, map[string]string{"en": en.Entries[i].Links[0].Href, "fr": fr.Entries[i].Links[0].Href}, p.Link, path)
			assert.True(t, strings.HasSuffix(p.Tag, ":"+p.Event), "%s: the event is the tag's name", p.Tag)
		}
		assert.Equal(t, "release", posts[0].Kind)
		assert.Equal(t, "release/"+airPurpose+"/2026-10-02", posts[0].Event)
		assert.Equal(t, "petition", posts[len(posts)-1].Kind)
	}
}
