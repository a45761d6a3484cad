// Package client is the resident's side of Commons over HTTP: it builds and signs statements
// with the wallet, seals readings with age to the resident and to each consented purpose, and
// talks to a server. The CLI, the demo loader and the end-to-end tests all use it, so the demo
// city goes through exactly the paths a real resident's client does.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/geo"
	"github.com/commons-city/commons/reading"
)

// Client talks to one Commons server.
type Client struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// HTTP is the HTTP client (default: one with a 60 s timeout).
	HTTP *http.Client
	// Now is the clock statements and contributions are issued by (their issued_at); nil is
	// time.Now. Only the demo loader and tests set it, to the clock the node reads, so that
	// issued_at stays within the node's statement skew.
	Now func() time.Time
}

// New returns a client for the server at url.
func New(url string) *Client {
	return &Client{URL: strings.TrimRight(url, "/"), HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// issuedAt is the issued_at of a statement or contribution signed now: crypto.Now, on the
// client's clock.
func (c *Client) issuedAt() string {
	if c.Now == nil {
		return crypto.Now()
	}
	return c.Now().UTC().Format(time.RFC3339)
}

// APIError is an error answer from the server.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("server said %d %s: %s", e.Status, e.Code, e.Message)
}

// IsCode reports whether err is an APIError with the given code.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

func (c *Client) do(ctx context.Context, method, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" {
			return &APIError{Status: resp.StatusCode, Code: "http_error", Message: http.StatusText(resp.StatusCode)}
		}
		return &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = b
		return nil
	default:
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("client: %s %s: decode answer: %w", method, path, err)
		}
		return nil
	}
}

// Get fetches a path and returns the raw body.
func (c *Client) Get(ctx context.Context, path string) ([]byte, error) {
	var b []byte
	err := c.do(ctx, http.MethodGet, path, "", nil, &b)
	return b, err
}

// Purpose is a purpose as the server publishes it.
type Purpose struct {
	api.Purpose
	LedgerIndex uint64 `json:"ledger_index"`
	Hash        string `json:"hash"`
	// AcceptsFrom is the oldest day, YYYY-MM-DD, the server accepted share copies for when it
	// listed the purpose: Seal keeps older days in the vault copy only.
	AcceptsFrom string `json:"accepts_from"`
	// Status is the purpose's status (api.StatusActive...); a node from before purposes could
	// be proposed leaves it empty, and its purposes are all active.
	Status string `json:"status"`
	// EpsilonPerDay is what consenting costs the resident per day of their privacy budget.
	EpsilonPerDay float64 `json:"epsilon_per_day"`
}

// Active reports whether a purpose takes consents and share copies.
func (p Purpose) Active() bool { return p.Status == "" || p.Status == api.StatusActive }

// Purposes lists the server's purposes.
func (c *Client) Purposes(ctx context.Context) ([]Purpose, error) {
	var out []Purpose
	err := c.do(ctx, http.MethodGet, "/api/v1/purposes", "", nil, &out)
	return out, err
}

// Purpose finds one purpose by id.
func (c *Client) Purpose(ctx context.Context, id string) (Purpose, error) {
	ps, err := c.Purposes(ctx)
	if err != nil {
		return Purpose{}, err
	}
	for _, p := range ps {
		if p.ID == id {
			return p, nil
		}
	}
	return Purpose{}, fmt.Errorf("client: no purpose %q on this server", id)
}

// Neighbourhoods fetches the public grid, to map locations to neighbourhoods locally.
func (c *Client) Neighbourhoods(ctx context.Context) (*geo.Map, error) {
	b, err := c.Get(ctx, "/api/v1/neighbourhoods")
	if err != nil {
		return nil, err
	}
	return geo.Parse(b)
}

// Answer is the server's answer to an accepted statement.
type Answer struct {
	Citizen string      `json:"citizen,omitempty"`
	Receipt api.Receipt `json:"receipt"`
}

func (c *Client) statement(ctx context.Context, path string, w *crypto.Wallet, s crypto.Statement) (Answer, error) {
	s.IssuedAt, s.Nonce = c.issuedAt(), crypto.NewNonce()
	signed, err := w.SignStatement(s)
	if err != nil {
		return Answer{}, err
	}
	var a Answer
	err = c.do(ctx, http.MethodPost, path, "", signed, &a)
	return a, err
}

// Register registers the wallet's citizen with a one-time invite code.
func (c *Client) Register(ctx context.Context, w *crypto.Wallet, invite, neighbourhood string) (Answer, error) {
	return c.statement(ctx, "/api/v1/citizens", w, crypto.Statement{
		Type: crypto.TypeRegister, Invite: invite, Neighbourhood: neighbourhood,
		Recipient: w.Recipient().String(), SigningKey: crypto.EncodeKey(w.SigningPublicKey()),
	})
}

// Grant consents to the current version of a purpose.
func (c *Client) Grant(ctx context.Context, w *crypto.Wallet, p Purpose) (Answer, error) {
	return c.statement(ctx, "/api/v1/statements", w, crypto.Statement{
		Type: crypto.TypeConsentGrant, Purpose: p.ID, PurposeVersion: p.Version})
}

// Revoke withdraws consent to a purpose; erase also deletes the resident's vault copies.
func (c *Client) Revoke(ctx context.Context, w *crypto.Wallet, p Purpose, erase bool) (Answer, error) {
	return c.statement(ctx, "/api/v1/statements", w, crypto.Statement{
		Type: crypto.TypeConsentRevoke, Purpose: p.ID, PurposeVersion: p.Version, Erase: erase})
}

// Uploaded is the server's answer to one contribution.
type Uploaded struct {
	Contribution string `json:"contribution"`
	Envelopes    int    `json:"envelopes"`
}

// Bounds on one contribution, so it stays under the server's envelope count and its default
// 4 MiB body limit: whole days are packed until either bound would be crossed.
const (
	daysPerUpload  = 60
	bytesPerUpload = 2 << 20 // of ciphertext; base64 and JSON add about a third
)

// Seal groups readings by UTC day and seals each day twice or more: a vault copy to the
// resident and one share copy per consented purpose, except for days before the purpose's
// AcceptsFrom, which the server would refuse to share. It returns the envelopes in day order.
func Seal(w *crypto.Wallet, rs []reading.Reading, purposes []Purpose) ([]crypto.Envelope, error) {
	return seal(w, rs, purposes, nil)
}

// seal is Seal leaving out, besides those before AcceptsFrom, the share copies for which
// skip(purpose, day) is true; skip is asked about every share copy.
func seal(w *crypto.Wallet, rs []reading.Reading, purposes []Purpose, skip func(purpose, day string) bool) ([]crypto.Envelope, error) {
	recipients := make([]age.Recipient, len(purposes))
	for i, p := range purposes {
		r, err := age.ParseX25519Recipient(p.Recipient)
		if err != nil {
			return nil, fmt.Errorf("client: purpose %s recipient: %w", p.ID, err)
		}
		recipients[i] = r
	}
	byDay, days := groupByDay(rs)
	var out []crypto.Envelope
	for _, d := range days {
		plain, err := reading.MarshalBatch(byDay[d])
		if err != nil {
			return nil, err
		}
		if len(plain) > reading.MaxBatchBytes {
			return nil, fmt.Errorf("client: %s holds %d readings, more than one day's envelope may carry (%d bytes at most)", d, len(byDay[d]), reading.MaxBatchBytes)
		}
		vault, err := crypto.Seal(plain, w.Recipient())
		if err != nil {
			return nil, err
		}
		out = append(out, crypto.Envelope{Day: d, Purpose: crypto.VaultPurpose, Ciphertext: vault})
		for i, p := range purposes {
			if skip != nil && skip(p.ID, d) || d < p.AcceptsFrom {
				continue
			}
			share, err := crypto.Seal(plain, recipients[i])
			if err != nil {
				return nil, err
			}
			out = append(out, crypto.Envelope{Day: d, Purpose: p.ID, Ciphertext: share})
		}
	}
	return out, nil
}

// Contribute seals readings (see Seal) and uploads them in signed contributions of at most
// 60 days each, calling progress after each upload.
func (c *Client) Contribute(ctx context.Context, w *crypto.Wallet, rs []reading.Reading, purposes []Purpose, progress func(done, total int)) ([]Uploaded, error) {
	return c.Upload(ctx, w, rs, purposes, UploadOptions{Progress: progress})
}

// UploadOptions follow an upload as it goes.
type UploadOptions struct {
	// Progress, if set, is called after each acknowledged contribution with the number of
	// readings acknowledged so far and the total.
	Progress func(done, total int)
	// Acked, if set, is called with the readings of each contribution once the server has
	// acknowledged it, before the next one is sent; an error stops the upload.
	Acked func([]reading.Reading) error
	// Closed, if set, names the days whose release for a purpose is already published: their
	// readings go to the resident's vault only, since a published release never changes. It
	// is asked about every share copy, also those before the purpose's AcceptsFrom, which go
	// to the vault only whatever it answers.
	Closed func(purpose, day string) bool
}

// groupByDay groups readings by UTC day and returns the days in order.
func groupByDay(rs []reading.Reading) (map[string][]reading.Reading, []string) {
	byDay := map[string][]reading.Reading{}
	for _, r := range rs {
		d := reading.Day(r.RecordedAt)
		byDay[d] = append(byDay[d], r)
	}
	days := make([]string, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	sort.Strings(days)
	return byDay, days
}

// Upload seals readings (see Seal) and uploads them in signed contributions of whole days,
// in day order, so that an interrupted upload has delivered a prefix of the days.
func (c *Client) Upload(ctx context.Context, w *crypto.Wallet, rs []reading.Reading, purposes []Purpose, opt UploadOptions) ([]Uploaded, error) {
	byDay, days := groupByDay(rs)
	var (
		out     []Uploaded
		done    int
		envs    []crypto.Envelope
		pending []reading.Reading
		size    int
		nDays   int
	)
	send := func() error {
		if nDays == 0 {
			return nil
		}
		signed, err := w.SignContribution(crypto.Contribution{IssuedAt: c.issuedAt(), Nonce: crypto.NewNonce(), Envelopes: envs})
		if err != nil {
			return err
		}
		u, err := c.postRetrying(ctx, signed)
		if err != nil {
			return err
		}
		out = append(out, u)
		if opt.Acked != nil {
			if err := opt.Acked(pending); err != nil {
				return err
			}
		}
		done += len(pending)
		if opt.Progress != nil {
			opt.Progress(done, len(rs))
		}
		envs, pending, size, nDays = nil, nil, 0, 0
		return nil
	}
	for _, d := range days {
		sealed, err := seal(w, byDay[d], purposes, opt.Closed)
		if err != nil {
			return out, err
		}
		n := 0
		for _, e := range sealed {
			n += len(e.Ciphertext)
		}
		if nDays == daysPerUpload || (nDays > 0 && size+n > bytesPerUpload) {
			if err := send(); err != nil {
				return out, err
			}
		}
		envs, pending, size, nDays = append(envs, sealed...), append(pending, byDay[d]...), size+n, nDays+1
	}
	return out, send()
}

// uploadRetries are the pauses before sending a contribution again after a network error or
// a server error.
var uploadRetries = []time.Duration{500 * time.Millisecond, 2 * time.Second}

// postRetrying uploads a signed contribution, sending the same bytes again after a failure
// that may be passing. The server refuses a nonce it has seen as a replay, so a retry can never
// store a contribution twice — and a replay answer to a retry means an earlier attempt was
// stored and only its answer was lost.
func (c *Client) postRetrying(ctx context.Context, s crypto.SignedContribution) (Uploaded, error) {
	u, err := c.post(ctx, s)
	for _, wait := range uploadRetries {
		var ae *APIError
		if err == nil || (errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusTooManyRequests) {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return u, err
		}
		u, err = c.post(ctx, s)
		if IsCode(err, "replayed") {
			id, idErr := s.Contribution.ID()
			if idErr != nil {
				return u, idErr
			}
			return Uploaded{Contribution: id, Envelopes: len(s.Contribution.Envelopes)}, nil
		}
	}
	return u, err
}

// PostContribution uploads one signed contribution as is.
func (c *Client) PostContribution(ctx context.Context, s crypto.SignedContribution) error {
	_, err := c.post(ctx, s)
	return err
}

func (c *Client) post(ctx context.Context, s crypto.SignedContribution) (Uploaded, error) {
	var u Uploaded
	err := c.do(ctx, http.MethodPost, "/api/v1/contributions", "", s, &u)
	return u, err
}

// VaultCopy is one of the resident's own sealed envelopes, as the server keeps it.
type VaultCopy struct {
	Day        string `json:"day"`
	Ciphertext []byte `json:"ciphertext"`
}

// Vault fetches the resident's own vault copies with a signed export request.
func (c *Client) Vault(ctx context.Context, w *crypto.Wallet) ([]VaultCopy, error) {
	s, err := w.SignStatement(crypto.Statement{Type: crypto.TypeVaultExport, IssuedAt: c.issuedAt(), Nonce: crypto.NewNonce()})
	if err != nil {
		return nil, err
	}
	var out struct {
		Copies []VaultCopy `json:"copies"`
	}
	err = c.do(ctx, http.MethodPost, "/api/v1/vault", "", s, &out)
	return out.Copies, err
}

// Released returns the days whose air-quality release is published, keyed by the purpose.
func (c *Client) Released(ctx context.Context) (map[string]map[string]bool, error) {
	var out struct {
		Purpose string   `json:"purpose"`
		Epochs  []string `json:"epochs"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/stats/air", "", nil, &out); err != nil {
		return nil, err
	}
	days := make(map[string]bool, len(out.Epochs))
	for _, d := range out.Epochs {
		days[d] = true
	}
	return map[string]map[string]bool{out.Purpose: days}, nil
}

// Invites asks for n one-time invite codes (admin).
func (c *Client) Invites(ctx context.Context, token string, n int) ([]string, error) {
	var out struct {
		Invites []string `json:"invites"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/invites", token, map[string]int{"count": n}, &out)
	return out.Invites, err
}

// RunReleases asks the server to publish every closed epoch now (admin). It returns how many
// it published and whether more were still due when the request's time ran out.
func (c *Client) RunReleases(ctx context.Context, token string) (published int, moreDue bool, err error) {
	var out struct {
		Published int  `json:"published"`
		MoreDue   bool `json:"more_due"`
	}
	err = c.do(ctx, http.MethodPost, "/api/v1/admin/releases", token, struct{}{}, &out)
	return out.Published, out.MoreDue, err
}
