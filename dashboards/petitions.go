package dashboards

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/ledger/state"
)

// petitionView is what the petition pages show: the document as logged and its exact totals.
type petitionView struct {
	ID, Title  string
	Scope      string // the neighbourhoods' names, empty for the whole city
	Status     string
	Open       bool
	Signatures int
	Withdrawn  int
	Threshold  int
	Percent    int
	Reached    bool
	Opens      timeView
	Closes     timeView
	Paragraphs []string
	Command    string
}

type timeView struct {
	ISO, Text string
}

func newTime(t time.Time) timeView {
	t = t.UTC()
	return timeView{ISO: t.Format(time.RFC3339), Text: t.Format("2 January 2006, 15:04 UTC")}
}

func (p *Pages) petitionView(pt *state.Petition, now time.Time) petitionView {
	v := petitionView{
		ID: pt.ID, Title: pt.Title, Scope: p.scope(pt.Scope),
		Open: pt.Open(now), Status: "closed",
		Signatures: pt.Signatures, Withdrawn: pt.Withdrawn, Threshold: pt.Threshold,
		Opens: newTime(pt.Opens), Closes: newTime(pt.Closes),
		Command: "commons petition sign " + pt.ID,
	}
	switch {
	case v.Open:
		v.Status = "open"
	case now.Before(pt.Opens):
		v.Status = "not yet open"
	}
	if pt.Threshold > 0 {
		v.Percent = min(pt.Signatures*100/pt.Threshold, 100)
		v.Reached = pt.Signatures >= pt.Threshold
	}
	return v
}

// scope names the neighbourhoods whose residents may sign; none means the whole city.
func (p *Pages) scope(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = p.city.name(id)
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// paragraphs splits plain text on blank lines. The template escapes every paragraph: the text
// is never interpreted as HTML.
func paragraphs(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	var out []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	for line := range strings.SplitSeq(text, "\n") {
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		cur = append(cur, strings.TrimSpace(line))
	}
	flush()
	return out
}

func (p *Pages) petitions(c *fiber.Ctx) error {
	now := p.src.Now()
	var vs []petitionView
	for _, pt := range p.src.State.Petitions() {
		vs = append(vs, p.petitionView(pt, now))
	}
	return p.render(c, fiber.StatusOK, "petitions", "Petitions", "petitions", vs)
}

func (p *Pages) petition(c *fiber.Ctx) error {
	pt, ok := p.src.State.Petition(c.Params("id"))
	if !ok {
		return p.notFound(c, "There is no petition with that id.")
	}
	v := p.petitionView(pt, p.src.Now())
	v.Paragraphs = paragraphs(pt.Text)
	return p.render(c, fiber.StatusOK, "petition", pt.Title, "petitions", v)
}
