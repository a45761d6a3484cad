package api

// ReleasePolicy says what a purpose publishes and under which privacy parameters.
type ReleasePolicy struct {
	// Grid is the fixed public grid, e.g. "neighbourhood×day".
	Grid string `json:"grid"`
	// K is the least number of distinct contributors for a cell to be published.
	K int `json:"k"`
	// ClampPM25 and ClampPM10 bound each resident's daily mean (µg/m³).
	ClampPM25 [2]float64 `json:"clamp_pm2_5"`
	ClampPM10 [2]float64 `json:"clamp_pm10"`
	// GraceHours is how long after a day ends late uploads are still accepted.
	GraceHours int `json:"grace_hours"`
	// Epsilon is a resident's differential-privacy ε per daily release (0: the default, 1).
	Epsilon float64 `json:"epsilon,omitempty"`
	// HourEpsilon is a resident's ε per day for the city × hour release published at the same
	// epoch close (0: no hourly release). Epsilon + HourEpsilon is the day's whole spend.
	HourEpsilon float64 `json:"hour_epsilon,omitempty"`
	// WeekEpsilon caps a resident's ε per ISO week across purposes (0: the default, 7).
	WeekEpsilon float64 `json:"week_epsilon,omitempty"`
}

// Purpose is one immutable version of a purpose: what data it uses, what it publishes, and
// the age recipient share copies are sealed to. Its JSON is logged as the body of a
// purpose.define entry.
type Purpose struct {
	ID          string        `json:"id"`
	Version     int           `json:"version"`
	Title       string        `json:"title"`
	Description string        `json:"description"`
	Data        string        `json:"data"`
	Recipient   string        `json:"recipient"`
	Release     ReleasePolicy `json:"release"`
	// Proposal is the hash of the purpose.propose body this purpose was approved as; empty
	// for a purpose built into the node.
	Proposal string `json:"proposal,omitempty"`
	// Neighbourhoods are where the purpose runs: those whose residents approved it; empty for
	// a built-in purpose, which runs everywhere.
	Neighbourhoods []string `json:"neighbourhoods,omitempty"`
	// End is the purpose's last UTC day of use (YYYY-MM-DD); empty: no end.
	End string `json:"end,omitempty"`
}
