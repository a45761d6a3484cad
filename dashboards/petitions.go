package dashboards

import (
	"net/url"
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
	Entry      uint64 // the petition.create entry in the ledger
	EntryURL   string
}

type timeView struct {
	ISO, Text string
}

func newTime(l lang, t time.Time) timeView {
	return timeView{ISO: t.UTC().Format(time.RFC3339), Text: l.dateTime(t)}
}

func (p *Pages) petitionView(l lang, pt *state.Petition, now time.Time) petitionView {
	v := petitionView{
		ID: pt.ID, Title: pt.Title, Scope: p.scope(l, pt.Scope),
		Open: pt.Open(now), Status: l.t("closed"),
		Signatures: pt.Signatures, Withdrawn: pt.Withdrawn, Threshold: pt.Threshold,
		Opens: newTime(l, pt.Opens), Closes: newTime(l, pt.Closes),
		Command: "commons petition sign " + pt.ID,
		Entry:   pt.Index, EntryURL: entryURL(pt.Index),
	}
	switch {
	case v.Open:
		v.Status = l.t("open")
	case now.Before(pt.Opens):
		v.Status = l.t("not yet open")
	}
	if pt.Threshold > 0 {
		v.Percent = min(pt.Signatures*100/pt.Threshold, 100)
		v.Reached = pt.Signatures >= pt.Threshold
	}
	return v
}

// scope names the neighbourhoods whose residents may sign; none means the whole city.
func (p *Pages) scope(l lang, ids []string) string {
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
	return l.t("%s and %s", strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
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
	l := pickLang(c)
	now := p.src.Now()
	var vs []petitionView
	for _, pt := range p.src.State.Petitions() {
		vs = append(vs, p.petitionView(l, pt, now))
	}
	return p.show(c, l, fiber.StatusOK, page{"petitions", l.t("Petitions"), "petitions", vs, "/petitions"})
}

func (p *Pages) petition(c *fiber.Ctx) error {
	l := pickLang(c)
	pt, ok := p.src.State.Petition(c.Params("id"))
	if !ok {
		return p.notFound(c, l, l.t("There is no petition with that id."))
	}
	v := p.petitionView(l, pt, p.src.Now())
	v.Paragraphs = paragraphs(pt.Text)
	return p.show(c, l, fiber.StatusOK, page{"petition", pt.Title, "petitions", v, "/petitions/" + url.PathEscape(pt.ID)})
}
