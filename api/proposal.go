package api

// Text is a plain-language text in both of the node's languages.
type Text struct {
	EN string `json:"en"`
	FR string `json:"fr"`
}

// PurposeProposal is a purpose as its proposer (an organiser acting for a residents'
// association, a city department, a university) signs it: what it would use and publish, for
// whom, at what privacy cost, where and until when, and how many residents of each
// neighbourhood in scope must approve it. It is logged as the body of a purpose.propose entry;
// once the neighbourhoods approve it and the operator countersigns, the node logs the purpose
// it defines (purpose.define) with its own key. Fields are in lexicographic key order.
type PurposeProposal struct {
	// ApprovalsNeeded is how many residents of a neighbourhood must approve for the purpose
	// to run there.
	ApprovalsNeeded int `json:"approvals_needed"`
	// Deadline is the last UTC day (YYYY-MM-DD) approvals and objections are taken.
	Deadline    string `json:"deadline"`
	Description Text   `json:"description"`
	// End is the last UTC day of use; the share copies are deleted and the key destroyed after.
	End string `json:"end"`
	// EpsilonMonth caps the ε per resident over a calendar month.
	EpsilonMonth float64 `json:"epsilon_month"`
	// EpsilonRelease is the ε per resident of each release.
	EpsilonRelease float64 `json:"epsilon_release"`
	// Grid is the release grid and cadence: "neighbourhood×day" or "neighbourhood×week".
	Grid string `json:"grid"`
	ID   string `json:"id"`
	// Readings are the readings used: pm10, pm2_5, temperature, humidity.
	Readings []string `json:"readings"`
	// Requester is the body that asks for the data.
	Requester string `json:"requester"`
	// RetentionDays is how long share copies are kept before their release deletes them.
	RetentionDays int `json:"retention_days"`
	// Scope are the neighbourhoods asked.
	Scope []string `json:"scope"`
	// Start is the first UTC day of use.
	Start string `json:"start"`
	// Statistics are the published statistics: "mean" (of each reading named).
	Statistics []string `json:"statistics"`
	Title      Text     `json:"title"`
	Version    int      `json:"version"`
}

// PurposeDecision is the body of a purpose.refuse or purpose.retire entry: who decided and
// why, in plain words.
type PurposeDecision struct {
	// By is "operator", "proposer" or "end" (the end date passed).
	By     string `json:"by"`
	Reason string `json:"reason"`
}

// Purpose statuses, as GET /api/v1/purposes reports them.
const (
	StatusProposed = "proposed"
	StatusActive   = "active"
	StatusRefused  = "refused"
	StatusExpired  = "expired"
	StatusRetired  = "retired"
)

// NeighbourhoodApprovals are the live, exact counts of one neighbourhood in a proposal's
// scope.
type NeighbourhoodApprovals struct {
	Neighbourhood string `json:"neighbourhood"`
	Approve       int    `json:"approve"`
	Object        int    `json:"object"`
	// Met: the approvals reach the threshold (and outnumber the objections).
	Met bool `json:"met"`
	// Active: the purpose runs here (the operator activated it with this neighbourhood).
	Active bool `json:"active"`
}

// PublicPurpose is a purpose as the API shows it: its proposal (absent for a purpose built
// into the node), its status, the approvals per neighbourhood and, once active, the purpose
// the node defined for it.
type PublicPurpose struct {
	ID        string                   `json:"id"`
	Version   int                      `json:"version"`
	Status    string                   `json:"status"`
	Proposer  string                   `json:"proposer,omitempty"`
	Proposal  *PurposeProposal         `json:"proposal,omitempty"`
	Approvals []NeighbourhoodApprovals `json:"approvals,omitempty"`
	Purpose   *Purpose                 `json:"purpose,omitempty"`
	// Decision is the operator's refusal, or the retirement, with its reason.
	Decision *PurposeDecision `json:"decision,omitempty"`
	// EpsilonPerDay is what consenting to the purpose costs a resident per day.
	EpsilonPerDay float64 `json:"epsilon_per_day"`
	// KeyDestroyed: the purpose's key is destroyed and its share copies deleted (logged).
	KeyDestroyed bool `json:"key_destroyed,omitempty"`
	// Releases are the purpose's published epochs (days, ISO weeks), in order: each is
	// downloaded from GET /api/v1/purposes/{id}?release=EPOCH.
	Releases []string `json:"releases,omitempty"`
}
