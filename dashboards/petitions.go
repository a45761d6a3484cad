package dashboards

import (
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/petition"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

// petitionView is what the petition pages show: the document as logged and its exact totals.
type petitionView struct {
	ID, Title  string
	Scope      string // the neighbourhoods' names, empty for the whole city
	Status     string
	Open       bool
	Organiser  string
	Online     int // active online signatures
	Paper      int // paper signatures the organiser entered
	PaperShare int // their share of Total, a whole percentage
	Total      int
	Withdrawn  int
	Threshold  int
	Percent    int // progress towards the threshold, capped at 100 for the bar (the API's at 1000)
	Reached    bool
	Opens      timeView
	Closes     timeView
	Text       template.HTML
	Command    string
	Questions  []string // plain-English names of the optional questions
	Timeline   []timelineRow
	Breakdowns []breakdownView
	// AnswerFlags are the sign command's flags for the optional questions, with example values.
	AnswerFlags string
	Entry       uint64 // the petition.create entry in the ledger
	EntryURL    string
}

// timelineRow is one UTC day of signatures; Busiest is the most signatures of any day, the
// scale of the row's meter.
type timelineRow struct {
	Day                                timeView
	Signed, Withdrawn, Online, Busiest int
}

// breakdownView is one released question: a count per answer, or suppressed.
type breakdownView struct {
	Question string
	K        int
	Groups   []groupView
}

type groupView struct {
	Answer     string
	Suppressed bool
	Signers    int
}

type timeView struct {
	ISO, Text string
}

func newTime(l lang, t time.Time) timeView {
	return timeView{ISO: t.UTC().Format(time.RFC3339), Text: l.dateTime(t)}
}

func (p *Pages) petitionView(l lang, pt *state.Petition, now time.Time) petitionView {
	v := petitionView{
		ID: pt.ID, Title: pt.Title, Scope: p.scope(l, pt.Scope), Organiser: pt.Organiser,
		Open: pt.Open(now), Status: statusText(l, petition.Status(&pt.Petition, now)),
		Online: pt.Signatures, Paper: pt.Paper, PaperShare: petition.PaperShare(pt.Paper, pt.Total()), Total: pt.Total(), Withdrawn: pt.Withdrawn, Threshold: pt.Threshold,
		Percent: min(petition.Progress(pt.Total(), pt.Threshold), 100), Reached: petition.Reached(pt.Total(), pt.Threshold),
		Opens: newTime(l, pt.Opens), Closes: newTime(l, pt.Closes),
		Command: "commons petition sign " + pt.ID,
		Entry:   pt.Index, EntryURL: entryURL(pt.Index),
	}
	var flags []string
	for _, q := range pt.Ask {
		v.Questions = append(v.Questions, questionName(l, q))
		if q == api.AskAgeBand {
			flags = append(flags, "--age-band "+strings.Join(api.AgeBands, "|"))
		} else {
			flags = append(flags, "--neighbourhood YOUR-NEIGHBOURHOOD-ID")
		}
	}
	v.AnswerFlags = strings.Join(flags, " ")
	return v
}

// statusText is a petition's status ("upcoming", "open", "closed") in words of l.
func statusText(l lang, status string) string {
	switch status {
	case petition.StatusOpen:
		return l.t("open")
	case petition.StatusUpcoming:
		return l.t("not yet open")
	}
	return l.t("closed")
}

// questionName is a question's name in l.
func questionName(l lang, q string) string {
	switch q {
	case api.AskAgeBand:
		return l.t("age band")
	case api.AskNeighbourhood:
		return l.t("neighbourhood")
	}
	return q
}

// timeline is a petition's signatures per UTC day, oldest first, as petition.Timeline counts
// them.
func timeline(l lang, days []state.PetitionDay) []timelineRow {
	tl := petition.Timeline(days)
	busiest := 1
	for _, d := range tl {
		busiest = max(busiest, d.Signed)
	}
	var rows []timelineRow
	for _, d := range tl {
		rows = append(rows, timelineRow{Day: timeView{ISO: d.Day, Text: l.longDate(d.Day)},
			Signed: d.Signed, Withdrawn: d.Withdrawn, Online: d.Online, Busiest: busiest})
	}
	return rows
}

// breakdowns reads a petition's released breakdown, if it has one yet.
func (p *Pages) breakdowns(l lang, pt *state.Petition) ([]breakdownView, error) {
	b, err := p.src.Store.Release(pt.Purpose(), release.PetitionEpoch)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d, err := release.ParseBreakdown(b)
	if err != nil {
		return nil, err
	}
	var out []breakdownView
	for _, q := range d.Questions {
		v := breakdownView{Question: questionName(l, q.Question), K: d.K}
		for _, g := range q.Groups {
			answer := g.Answer
			if q.Question == api.AskNeighbourhood {
				answer = p.city.name(g.Answer)
			}
			v.Groups = append(v.Groups, groupView{Answer: answer, Suppressed: g.Suppressed, Signers: g.Signers})
		}
		out = append(out, v)
	}
	return out, nil
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

// Petitions answers the list of every petition with its totals.
func (p *Pages) Petitions(c *fiber.Ctx) error {
	l := pickLang(c)
	now := p.src.Now()
	var vs []petitionView
	for _, pt := range p.src.State.Petitions() {
		vs = append(vs, p.petitionView(l, pt, now))
	}
	return p.show(c, l, fiber.StatusOK, page{"petitions", l.t("Petitions"), "petitions", vs, "/petitions"})
}

// Petition answers the page of the petition named by the route parameter id.
func (p *Pages) Petition(c *fiber.Ctx) error {
	l := pickLang(c)
	pt, ok := p.src.State.Petition(c.Params("id"))
	if !ok {
		return p.notFound(c, l, l.t("There is no petition with that id."))
	}
	v := p.petitionView(l, pt, p.src.Now())
	v.Text = renderMarkdown(pt.Text)
	v.Timeline = timeline(l, p.src.State.Timeline(pt.ID))
	var err error
	if v.Breakdowns, err = p.breakdowns(l, pt); err != nil {
		return fmt.Errorf("dashboards: petition breakdown: %w", err)
	}
	return p.show(c, l, fiber.StatusOK, page{"petition", pt.Title, "petitions", v, "/petitions/" + url.PathEscape(pt.ID)})
}
