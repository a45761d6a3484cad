package dashboards

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/purpose"
	"github.com/commons-city/commons/release"
)

// purposeView is what the purpose pages show: a purpose in plain words, who asked for it, what
// it costs a resident's privacy, what the neighbourhoods decided, and what it published.
type purposeView struct {
	ID, Title, Description string
	Requester              string // empty for a purpose built into the node
	Status                 string // in words of the page's language
	StatusClass            string // "open" (active or taking approvals) or "closed"
	Readings               string
	Grid                   string
	EpsilonRelease         string
	EpsilonMonth           string
	EpsilonDay             string
	Cap                    string
	Retention              int
	Start, End, Deadline   timeView
	Needed                 int
	Open                   bool // still taking approvals and objections
	Approvals              []approvalRow
	Decision               *api.PurposeDecision
	DecisionBy             string
	KeyDestroyed           bool
	Releases               []releaseLink
	// Spent is the most a resident in every release has spent on the purpose so far: its
	// releases times its ε per release (a proposed purpose only).
	Spent   string
	Command string
	// Figures is the latest release as a table (a proposed purpose that published one).
	Figures *figuresView
}

// figuresView is a purpose's latest release in words and numbers: each neighbourhood's
// figures, as the /air tables show them.
type figuresView struct {
	Epoch        string
	Heads        []string
	Rows         []cellRow
	K            int
	Contributors int
}

// approvalRow is one neighbourhood's decision on a proposal.
type approvalRow struct {
	Name            string
	Approve, Object int
	Met, Active     bool
}

// releaseLink is one published release of a purpose, with its download.
type releaseLink struct{ Epoch, URL string }

func (p *Pages) proposalView(l lang, prop *state.Proposal) purposeView {
	defined, _ := p.src.State.Purpose(prop.ID)
	pub := purpose.Public(prop, defined)
	doc := prop.PurposeProposal
	v := purposeView{ID: prop.ID, Title: doc.Title.EN, Description: doc.Description.EN, Requester: doc.Requester,
		Status: purposeStatusText(l, pub.Status), StatusClass: "closed",
		Readings: readingNames(l, doc.Readings), Grid: gridName(l, doc.Grid),
		EpsilonRelease: decimal(doc.EpsilonRelease), EpsilonMonth: decimal(doc.EpsilonMonth),
		EpsilonDay: decimal(pub.EpsilonPerDay), Cap: decimal(purpose.DailyCap), Retention: doc.RetentionDays,
		Start: timeView{ISO: doc.Start, Text: l.longDate(doc.Start)}, End: timeView{ISO: doc.End, Text: l.longDate(doc.End)},
		Deadline: timeView{ISO: doc.Deadline, Text: l.longDate(doc.Deadline)}, Needed: doc.ApprovalsNeeded,
		Open: purpose.OpenOn(prop, p.src.Now()), Decision: pub.Decision, KeyDestroyed: prop.Destroyed,
		Command: "commons purpose approve " + prop.ID}
	if l == french {
		v.Title, v.Description = doc.Title.FR, doc.Description.FR
	}
	if v.Open || pub.Status == api.StatusActive {
		v.StatusClass = "open"
	}
	if d := pub.Decision; d != nil {
		v.DecisionBy = map[string]string{purpose.ByOperator: l.t("the operator"), purpose.ByProposer: l.t("its proposer"),
			purpose.ByEnd: l.t("its end date")}[d.By]
	}
	for _, a := range pub.Approvals {
		v.Approvals = append(v.Approvals, approvalRow{Name: p.city.name(a.Neighbourhood), Approve: a.Approve, Object: a.Object, Met: a.Met, Active: a.Active})
	}
	return v
}

func (p *Pages) builtInView(l lang, d *state.Purpose) purposeView {
	return purposeView{ID: d.ID, Title: l.t(d.Title), Description: l.t(d.Description),
		Status: purposeStatusText(l, api.StatusActive), StatusClass: "open", Grid: gridName(l, d.Release.Grid),
		EpsilonDay: decimal(purpose.PolicyEpsilonPerDay(d.Purpose)), Cap: decimal(purpose.DailyCap)}
}

// latestFigures tables the release of purpose id for epoch: its weekly release (stored under
// release.WeekPurpose) or its daily one, a column for each reading the purpose asked for.
func (p *Pages) latestFigures(l lang, id string, weekly bool, readings []string, epoch string) (*figuresView, error) {
	var cells []release.Cell
	var units release.Units
	var rounding float64
	v := &figuresView{Epoch: epoch}
	if weekly {
		w, err := parseStored(p.src.Store, release.WeekPurpose(id), epoch, release.ParseAirWeek)
		if err != nil {
			return nil, err
		}
		cells, units, rounding, v.K, v.Contributors = w.Cells, w.Units, w.Rounding, w.K, w.Contributors
	} else {
		d, err := parseStored(p.src.Store, id, epoch, release.ParseAirDay)
		if err != nil {
			return nil, err
		}
		cells, units, rounding, v.K, v.Contributors = d.Cells, d.Units, d.Rounding, d.K, d.Contributors
	}
	var cols []statColumn
	for i, name := range []string{"pm2_5", "pm10", "temperature", "humidity"} { // statColumns' order
		if slices.Contains(readings, name) {
			cols = append(cols, statColumns[i])
		}
	}
	for _, col := range cols {
		v.Heads = append(v.Heads, col.head(l, units))
	}
	byID := cellsByID(cells)
	for _, id := range p.neighbourhoods(cells) {
		if c, ok := byID[id]; ok { // the neighbourhoods where the purpose runs, in map order
			v.Rows = append(v.Rows, l.row(p.city.name(id), c, cols, decimals(rounding)))
		}
	}
	return v, nil
}

// decimal prints an ε as briefly as it is exact.
func decimal(f float64) string { return strconv.FormatFloat(f, 'g', 3, 64) }

// purposeStatusText is a purpose's status in words of l.
func purposeStatusText(l lang, status string) string {
	switch status {
	case api.StatusProposed:
		return l.t("proposed: the neighbourhoods decide")
	case api.StatusActive:
		return l.t("active")
	case api.StatusRefused:
		return l.t("refused by the operator")
	case api.StatusExpired:
		return l.t("ended")
	}
	return l.t("retired")
}

// gridName is a release grid in words of l.
func gridName(l lang, grid string) string {
	if grid == release.GridNeighbourhoodWeek {
		return l.t("each neighbourhood, each week")
	}
	return l.t("each neighbourhood, each day")
}

// readingNames names the readings a purpose uses in l.
func readingNames(l lang, readings []string) string {
	names := make([]string, len(readings))
	for i, r := range readings {
		names[i] = map[string]string{"pm10": "PM10", "pm2_5": "PM2.5", "temperature": l.t("temperature"), "humidity": l.t("humidity")}[r]
	}
	return strings.Join(names, ", ")
}

// Purposes answers the list of every purpose: the built-in ones, then the proposals.
func (p *Pages) Purposes(c *fiber.Ctx) error {
	l := pickLang(c)
	var vs []purposeView
	for _, d := range p.src.State.Purposes() {
		if d.Proposal == "" {
			vs = append(vs, p.builtInView(l, d))
		}
	}
	for _, prop := range p.src.State.Proposals() {
		vs = append(vs, p.proposalView(l, prop))
	}
	body := struct {
		Cap      string
		Purposes []purposeView
	}{decimal(purpose.DailyCap), vs}
	return p.show(c, l, fiber.StatusOK, page{"purposes", l.t("Data uses"), "purposes", body, "/purposes"})
}

// Purpose answers the page of the purpose named by the route's wildcard (an id may hold a
// slash).
func (p *Pages) Purpose(c *fiber.Ctx) error {
	l := pickLang(c)
	id := c.Params("*")
	var v purposeView
	if prop, ok := p.src.State.Proposal(id); ok {
		v = p.proposalView(l, prop)
	} else if d, ok := p.src.State.Purpose(id); ok {
		v = p.builtInView(l, d)
	} else {
		return p.notFound(c, l, l.t("There is no purpose with that id."))
	}
	for _, storeAs := range []string{id, release.WeekPurpose(id)} {
		epochs, err := p.src.Store.Epochs(storeAs)
		if err != nil {
			return fmt.Errorf("dashboards: purpose releases: %w", err)
		}
		for _, e := range epochs {
			v.Releases = append(v.Releases, releaseLink{Epoch: e, URL: "/api/v1/purposes/" + id + "?release=" + e})
		}
	}
	if prop, ok := p.src.State.Proposal(id); ok {
		v.Spent = decimal(float64(len(v.Releases)) * prop.EpsilonRelease)
		if n := len(v.Releases); n > 0 {
			f, err := p.latestFigures(l, id, prop.Grid == release.GridNeighbourhoodWeek, prop.Readings, v.Releases[n-1].Epoch)
			if err != nil {
				return fmt.Errorf("dashboards: purpose figures: %w", err)
			}
			v.Figures = f
		}
	}
	return p.show(c, l, fiber.StatusOK, page{"purpose", v.Title, "purposes", v, "/purposes/" + id})
}
