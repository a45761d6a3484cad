package dashboards

import (
	"errors"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/dashboards/release"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/server/store"
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
	Total      int
	Withdrawn  int
	Threshold  int
	Percent    int
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

func newTime(t time.Time) timeView {
	t = t.UTC()
	return timeView{ISO: t.Format(time.RFC3339), Text: t.Format("2 January 2006, 15:04 UTC")}
}

func (p *Pages) petitionView(pt *state.Petition, now time.Time) petitionView {
	v := petitionView{
		ID: pt.ID, Title: pt.Title, Scope: p.scope(pt.Scope), Organiser: pt.Organiser,
		Open: pt.Open(now), Status: "closed",
		Online: pt.Signatures, Paper: pt.Paper, Total: pt.Total(), Withdrawn: pt.Withdrawn, Threshold: pt.Threshold,
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
		v.Percent = min(v.Total*100/pt.Threshold, 100)
		v.Reached = v.Total >= pt.Threshold
	}
	var flags []string
	for _, q := range pt.Ask {
		v.Questions = append(v.Questions, questionName(q))
		if q == state.AskAgeBand {
			flags = append(flags, "--age-band "+strings.Join(state.AgeBands, "|"))
		} else {
			flags = append(flags, "--neighbourhood YOUR-NEIGHBOURHOOD-ID")
		}
	}
	v.AnswerFlags = strings.Join(flags, " ")
	return v
}

// questionName is a question's plain-English name.
func questionName(q string) string {
	if q == state.AskAgeBand {
		return "age band"
	}
	return q
}

// timeline is a petition's signatures per UTC day, oldest first.
func timeline(days []state.PetitionDay) []timelineRow {
	busiest := 1
	for _, d := range days {
		busiest = max(busiest, d.Signed)
	}
	var rows []timelineRow
	online := 0
	for _, d := range days {
		online += d.Signed - d.Withdrawn
		t, _ := time.Parse(time.DateOnly, d.Day)
		rows = append(rows, timelineRow{Day: timeView{ISO: d.Day, Text: t.Format("2 January 2006")},
			Signed: d.Signed, Withdrawn: d.Withdrawn, Online: online, Busiest: busiest})
	}
	return rows
}

// breakdowns reads a petition's released breakdown, if it has one yet.
func (p *Pages) breakdowns(pt *state.Petition) ([]breakdownView, error) {
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
		v := breakdownView{Question: questionName(q.Question), K: d.K}
		for _, g := range q.Groups {
			answer := g.Answer
			if q.Question == state.AskNeighbourhood {
				answer = p.city.name(g.Answer)
			}
			v.Groups = append(v.Groups, groupView{Answer: answer, Suppressed: g.Suppressed, Signers: g.Signers})
		}
		out = append(out, v)
	}
	return out, nil
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
	v.Text = renderMarkdown(pt.Text)
	v.Timeline = timeline(p.src.State.Timeline(pt.ID))
	var err error
	if v.Breakdowns, err = p.breakdowns(pt); err != nil {
		return fmt.Errorf("dashboards: petition breakdown: %w", err)
	}
	return p.render(c, fiber.StatusOK, "petition", pt.Title, "petitions", v)
}
