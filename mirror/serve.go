package mirror

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/commons-city/commons/ledger"
)

// Handler serves the mirror read-only, on the paths a node serves the same things: the C2SP
// checkpoint and tiles, the JSON ledger API (key, checkpoint, entries, proofs), the JSON
// releases of /api/v1/stats/air, plus the mirror's own status (/api/v1/mirror) and a /ledger
// page showing it. Errors are the node's JSON body {"error":{"code","message"}}.
func (m *Mirror) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { text(w, "ok\n") })
	mux.HandleFunc("GET /ledger/checkpoint", m.checkpoint)
	mux.HandleFunc("GET /api/v1/ledger/checkpoint", m.checkpoint)
	mux.HandleFunc("GET /api/v1/ledger/key", func(w http.ResponseWriter, _ *http.Request) { text(w, m.key+"\n") })
	mux.HandleFunc("GET /api/v1/ledger/entries/{index}", m.entry)
	mux.HandleFunc("GET /api/v1/ledger/proof/inclusion", proof("index", "size", m.log.ProveInclusion))
	mux.HandleFunc("GET /api/v1/ledger/proof/consistency", proof("from", "to", m.log.ProveConsistency))
	mux.HandleFunc("GET /ledger/tile/", m.tile)
	mux.HandleFunc("GET /api/v1/stats/air", m.statsAir)
	mux.HandleFunc("GET /api/v1/mirror", m.status)
	mux.HandleFunc("GET /ledger", m.page)
	mux.HandleFunc("GET /{$}", m.page)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { notFound(w) })
	return headers(mux)
}

// headers sets the headers every answer carries, and refuses a method other than GET or HEAD:
// a mirror is read-only.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			fail(w, http.StatusMethodNotAllowed, "method_not_allowed", "a mirror is read-only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func fail(w http.ResponseWriter, status int, code, message string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, message
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func notFound(w http.ResponseWriter) { fail(w, http.StatusNotFound, "not_found", "no such resource") }

func text(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(s))
}

func sendJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// immutable answers bytes the ledger holds, which never change, or not found.
func immutable(w http.ResponseWriter, contentType string, b []byte, err error) {
	if errors.Is(err, ledger.ErrNotFound) {
		notFound(w)
		return
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal", "the mirror could not read its copy")
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(b)
}

// checkpoint serves the source's latest verified checkpoint, verbatim, with its signature.
func (m *Mirror) checkpoint(w http.ResponseWriter, _ *http.Request) {
	cp, _ := m.log.Checkpoint()
	if cp == nil {
		fail(w, http.StatusNotFound, "not_yet", "the mirror has not verified a checkpoint of its source yet")
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(cp)
}

func (m *Mirror) entry(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		notFound(w)
		return
	}
	b, err := m.log.Entry(i)
	immutable(w, "application/json", b, err)
}

func (m *Mirror) tile(w http.ResponseWriter, r *http.Request) {
	p, err := ledger.ParseTilePath(strings.TrimPrefix(r.URL.Path, "/ledger/"))
	if err != nil {
		notFound(w)
		return
	}
	b, err := m.log.Tile(p)
	immutable(w, "application/octet-stream", b, err)
}

// queryUint reads a non-negative integer query parameter, answering 422 as a node does.
func queryUint(w http.ResponseWriter, r *http.Request, name string) (uint64, bool) {
	v, err := strconv.ParseUint(r.URL.Query().Get(name), 10, 64)
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, "invalid_field", name+": a non-negative integer is required")
		return 0, false
	}
	return v, true
}

// proof serves a proof between two points of the copy, named by the query parameters first
// and second, as the node does: prove reads it from the ledger and shapes the answer.
func proof[T any](first, second string, prove func(x, y uint64) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x, ok := queryUint(w, r, first)
		if !ok {
			return
		}
		y, ok := queryUint(w, r, second)
		if !ok {
			return
		}
		v, err := prove(x, y)
		if err != nil {
			immutable(w, "", nil, err)
			return
		}
		sendJSON(w, v)
	}
}

// statsAir serves the copied air releases: the index without a query, the logged bytes of a
// day's (?day=) or a week's (?week=) release, JSON only (format= empty or json).
func (m *Mirror) statsAir(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "day" && k != "week" && k != "format" {
			notFound(w)
			return
		}
	}
	if f := q.Get("format"); f != "" && f != "json" {
		fail(w, http.StatusNotFound, "not_found", "a mirror serves releases as the JSON the source logged; ask the source for other formats")
		return
	}
	day, week := q.Get("day"), q.Get("week")
	if day == "" && week == "" {
		purpose, days, weeks, err := m.Releases()
		if err != nil {
			fail(w, http.StatusInternalServerError, "internal", "the mirror could not read its copy")
			return
		}
		sendJSON(w, struct {
			Purpose string   `json:"purpose"`
			Epochs  []string `json:"epochs"`
			Hourly  []string `json:"hourly"`
			Weeks   []string `json:"weeks"`
		}{purpose, days, []string{}, weeks})
		return
	}
	epoch := day
	if day == "" {
		epoch = week
	} else if week != "" {
		notFound(w)
		return
	}
	if _, err := time.Parse(time.DateOnly, epoch); (day != "" && err != nil) || (week != "" && !isWeek(epoch)) {
		notFound(w)
		return
	}
	b, err := m.Release(epoch)
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal", "the mirror could not read its copy")
		return
	}
	if b == nil {
		notFound(w)
		return
	}
	etag := `"` + hashOf(b)[:32] + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (m *Mirror) status(w http.ResponseWriter, _ *http.Request) {
	s, err := m.Status()
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal", "the mirror could not read its copy")
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	sendJSON(w, s)
}

var page = template.Must(template.New("mirror").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Mirror of {{.Source}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}
pre{white-space:pre-wrap;background:#f4f4f4;padding:.5rem}.fork{border:3px solid #b00020;padding:0 1rem}</style>
</head><body>
<h1>Mirror of <a href="{{.Source}}/ledger">{{.Source}}</a></h1>
{{with .Fork}}<section class="fork" role="alert"><h2>The source forked or rewrote its ledger</h2>
<p>Detected {{.Detected.Format "2006-01-02 15:04:05 UTC"}} ({{.Reason}}): {{.Error}}. This mirror no
longer follows the source and keeps serving the history it verified. Both checkpoints carry the
source's signature; the evidence is kept in <code>{{.Evidence}}</code> and at
<a href="/api/v1/mirror">/api/v1/mirror</a>.</p>
<h3>Checkpoint held</h3><pre>{{.Held}}</pre><h3>Checkpoint then served</h3><pre>{{.Served}}</pre>
</section>{{end}}
<p>This is a read-only copy of a Commons node's public ledger and of its air-quality releases.
Every checkpoint below verifies with the source's key, every new one was proved to extend the
last, and every release's bytes hash to what its ledger entry logged.</p>
<dl><dt>Source key</dt><dd><code>{{.Key}}</code></dd>
<dt>Entries</dt><dd>{{.Size}}</dd>
<dt>Last fetch</dt><dd>{{with .LastSync}}{{.Format "2006-01-02 15:04:05 UTC"}}{{else}}not yet{{end}}{{with .LastError}} — failed: {{.}}{{end}}</dd>
<dt>Releases copied</dt><dd>{{len .Days}} days, {{len .Weeks}} weeks</dd></dl>
{{if .Refused}}<h2>Releases refused</h2><ul>{{range .Refused}}<li>entry {{.Index}}: {{.Why}}</li>{{end}}</ul>{{end}}
<h2>Latest checkpoint</h2><pre>{{.Checkpoint}}</pre>
<p>Check it yourself: <code>commons ledger verify --server THIS-URL --all</code>.</p>
</body></html>
`))

// page shows the mirror's status, and any fork evidence, to a person.
func (m *Mirror) page(w http.ResponseWriter, _ *http.Request) {
	s, err := m.Status()
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal", "the mirror could not read its copy")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_ = page.Execute(w, s)
}
