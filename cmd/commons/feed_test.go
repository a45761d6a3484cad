package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/release"
)

// readFeed is a Python script that reads an Atom feed with feedparser, a parser Commons does
// not otherwise use, and prints what it understood as JSON.
const readFeed = `import json, sys, feedparser
d = feedparser.parse(sys.stdin.buffer.read())
print(json.dumps({
  "bozo": int(d.bozo), "problem": str(d.get("bozo_exception", "")), "version": d.version,
  "language": d.feed.get("language", ""), "title": d.feed.get("title", ""),
  "links": [l.get("href") for l in d.feed.get("links", [])],
  "entries": [{"id": e.get("id", ""), "title": e.get("title", ""), "updated": e.get("updated", ""),
               "summary": e.get("summary", ""), "links": [l.get("href") for l in e.get("links", [])]}
              for e in d.entries],
}))
`

type parsedFeed struct {
	Bozo     int    `json:"bozo"`
	Problem  string `json:"problem"`
	Version  string `json:"version"`
	Language string `json:"language"`
	Title    string `json:"title"`
	Links    []string
	Entries  []struct {
		ID, Title, Updated, Summary string
		Links                       []string
	}
}

// feedparser finds a python3 that has the feedparser module (Debian's python3-feedparser
// belongs to /usr/bin/python3, which another python3 on PATH may hide). Without one the test
// is skipped, except on CI, which installs python3-feedparser.
func feedparser(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		python, err := exec.LookPath(name)
		if err == nil {
			err = exec.Command(python, "-c", "import feedparser").Run()
		}
		if err == nil {
			return python
		}
		tried = append(tried, name+": "+err.Error())
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("a python3 with feedparser is needed, and CI=true: install it (apt-get install python3-feedparser); tried %s", strings.Join(tried, "; "))
	}
	t.Skipf("skipping the independent reading of the Atom feeds: no python3 with feedparser (apt-get install python3-feedparser); tried %s", strings.Join(tried, "; "))
	return ""
}

// TestFeedsReadByAnIndependentParser has python3's feedparser read the city's feed, in both
// languages, and a neighbourhood's, from the real binary holding a released day: each is
// valid Atom 1.0 with the day's release worded, a link to its page and to its ledger entry,
// and the petition that opened.
func TestFeedsReadByAnIndependentParser(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	python := feedparser(t)
	ctx := testContext(t)
	data := t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	day, _ := releaseDay(ctx, t, n)
	dayText := day.Format(time.DateOnly)

	read := func(path string) parsedFeed {
		t.Helper()
		resp, err := http.Get(n.url + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "application/atom+xml; charset=utf-8", resp.Header.Get("Content-Type"))
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		cmd := exec.CommandContext(ctx, python, "-c", readFeed)
		cmd.Stdin = strings.NewReader(string(body))
		out, err := cmd.Output()
		require.NoError(t, err, "feedparser on %s", path)
		var f parsedFeed
		require.NoError(t, json.Unmarshal(out, &f))
		assert.Zero(t, f.Bozo, "%s is well-formed for feedparser: %s", path, f.Problem)
		assert.Equal(t, "atom10", f.Version, path)
		for _, e := range f.Entries {
			assert.True(t, strings.HasPrefix(e.ID, "tag:"), e.ID)
			_, err := time.Parse(time.RFC3339, e.Updated)
			assert.NoError(t, err, "entry %s updated", e.ID)
			require.NotEmpty(t, e.Links, e.ID)
			assert.True(t, strings.HasPrefix(e.Links[0], n.url+"/"), "absolute links: %s", e.Links[0])
		}
		return f
	}

	city := read("/feed.atom")
	assert.Equal(t, "en", city.Language)
	assert.Equal(t, "Commons: air quality and petitions in the city", city.Title)
	var released, opened bool
	for _, e := range city.Entries {
		if e.Title == "Air quality on "+day.Format("Monday 2 January 2006") {
			released = true
			assert.Contains(t, e.Summary, "neighbourhoods have a PM2.5 figure.")
			assert.Contains(t, e.Links, n.url+"/air?day="+dayText+"&lang=en")
			assert.Len(t, e.Links, 2, "the page and the ledger entry")
		}
		opened = opened || e.Title == "Petition opened: Clean air at the school gates"
	}
	assert.True(t, released, "the released day is in the city's feed")
	assert.True(t, opened, "the open petition is in the city's feed")

	fr := read("/feed.atom?lang=fr")
	assert.Equal(t, "fr", fr.Language)
	assert.Equal(t, "Commons : qualité de l'air et pétitions dans la ville", fr.Title)

	// The neighbourhood's feed words its cell of the day as the release has it.
	var cell release.Cell
	for _, c := range fetchRelease(t, n.url, dayText).Cells {
		if c.Neighbourhood == oldTown {
			cell = c
		}
	}
	want := "Ciutat Vella — not enough data: no figure is published."
	switch {
	case cell.Suppressed:
	case cell.PM25 != nil:
		want = fmt.Sprintf("Ciutat Vella — fine particles (PM2.5): %.1f (%.1f–%.1f) µg/m³", *cell.PM25, cell.PM25CI[0], cell.PM25CI[1])
	case cell.PM25Band != "":
		want = "Ciutat Vella — fine particles (PM2.5): " + cell.PM25Band + " (a band only"
	}
	nb := read("/neighbourhoods/" + oldTown + "/feed.atom")
	found := false
	for _, e := range nb.Entries {
		if e.Title == "Air quality in Ciutat Vella on "+day.Format("Monday 2 January 2006") {
			found = true
			assert.Contains(t, e.Summary, want)
		}
	}
	assert.True(t, found, "old-town's released day is in its feed")
}
