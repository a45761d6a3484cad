package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
)

// markers are the byte strings that identify a resident anywhere: their citizen id, their
// signing key (standard base64 and raw), their age recipient.
func markers(w *crypto.Wallet) [][]byte {
	return [][]byte{[]byte(w.CitizenID()), []byte(crypto.EncodeKey(w.SigningPublicKey())), w.SigningPublicKey(),
		[]byte(w.Recipient().String())}
}

// scanForJoins reads every key and value of db and reports each record that holds both a
// signature's secret-free traces (a nullifier, sealed answers or their hash) and a resident's
// marker: such a record would join a resident to their signature.
func scanForJoins(t *testing.T, db *badger.DB, signatures, residents [][]byte) (records int, joins []string) {
	t.Helper()
	require.NoError(t, db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			records++
			rec := append(append(append([]byte{}, k...), 0), v...)
			if bytes.HasPrefix(k, []byte("p/signer/")) {
				joins = append(joins, string(k))
			}
			signed := false
			for _, s := range signatures {
				signed = signed || bytes.Contains(rec, s)
			}
			if !signed {
				continue
			}
			for _, m := range residents {
				if bytes.Contains(rec, m) {
					joins = append(joins, string(k))
				}
			}
		}
		return nil
	}))
	return records, joins
}

// TestNoRecordJoinsASignerToTheirNullifierOrAnswers signs a petition with sealed answers from a
// dozen residents (one withdraws), then reads every Badger key and value, of the node and of a
// backup of it: no record holds both a nullifier, sealed answers or their hash, and a citizen
// id, a citizen key or a recipient, and no binding of a citizen to a nullifier is kept.
func TestNoRecordJoinsASignerToTheirNullifierOrAnswers(t *testing.T) {
	t.Parallel()
	n := newPetitionNode(t)
	org := n.organiser(t)
	p := treesPetition(n.clock.Now().Add(-time.Minute))
	p.Ask = []string{api.AskAgeBand, api.AskNeighbourhood}
	status, code := n.create(t, org, p)
	require.Equal(t, 201, status, code)
	tally, err := age.ParseX25519Recipient(n.petition(t, "trees").Recipient)
	require.NoError(t, err)

	var signatures, residents [][]byte
	for i := range 12 {
		w := n.resident(t, "old-town")
		residents = append(residents, markers(w)...)
		plain, err := client.AnswersPlaintext(api.Answers{AgeBand: "30-44", Neighbourhood: "old-town"})
		require.NoError(t, err)
		sealed, err := crypto.Seal(plain, tally)
		require.NoError(t, err)
		toks, _ := n.tokens(t, w, "trees")
		status, code := n.act(t, "trees", actRequest(t, w, "trees", false, toks["trees"], sealed))
		require.Equal(t, 202, status, code)
		if i == 0 {
			status, code = n.act(t, "trees", actRequest(t, w, "trees", true, client.Token{}, nil))
			require.Equal(t, 202, status, code)
		}
		nullifier := w.Nullifier("trees")
		key, err := w.PetitionKey("trees")
		require.NoError(t, err)
		signatures = append(signatures, []byte(nullifier), sealed, []byte(crypto.DocumentHash(sealed)),
			[]byte(base64.StdEncoding.EncodeToString(sealed)), []byte(crypto.EncodeKey(key.Public().(ed25519.PublicKey))))
	}
	answers, err := n.Store.Answers("trees")
	require.NoError(t, err)
	require.Len(t, answers, 11, "the answers are stored, and the withdrawn one emptied")

	records, joins := scanForJoins(t, n.DB, signatures, residents)
	assert.Greater(t, records, 50, "the scan read the database")
	assert.Empty(t, joins, "records joining a resident to a signature")

	var backup bytes.Buffer
	_, err = n.DB.Backup(&backup, 0)
	require.NoError(t, err)
	restored, err := badger.Open(badger.DefaultOptions(t.TempDir()).WithLogger(nil))
	require.NoError(t, err)
	defer restored.Close()
	require.NoError(t, restored.Load(&backup, 16))
	backupRecords, joins := scanForJoins(t, restored, signatures, residents)
	assert.Equal(t, records, backupRecords, "the backup holds every record")
	assert.Empty(t, joins, "records of the backup joining a resident to a signature")
}

// loggingProxy forwards requests to a node and keeps each one's method, path, headers and
// body, as an observer between a resident and the node would see them.
type loggingProxy struct {
	mu   sync.Mutex
	seen []string
}

func (l *loggingProxy) handler(t *testing.T, target string) http.Handler {
	u, err := url.Parse(target)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		var head bytes.Buffer
		assert.NoError(t, r.Header.Write(&head))
		l.mu.Lock()
		l.seen = append(l.seen, r.Method+" "+r.URL.RequestURI()+"\n"+head.String()+"\n"+string(body))
		l.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	})
}

func (l *loggingProxy) requests(prefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.seen {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// TestSignRequestCarriesNoCitizen puts a logging proxy between the client and the node: the
// requests that sign and withdraw carry no citizen id, citizen key, recipient or citizen
// signature (no statement at all), while the token request, made when the wallet syncs, does
// name the resident — so the proxy would have seen it.
func TestSignRequestCarriesNoCitizen(t *testing.T) {
	t.Parallel()
	n := newPetitionNode(t)
	org := n.organiser(t)
	p := treesPetition(n.clock.Now().Add(-time.Minute))
	p.Ask = []string{api.AskAgeBand}
	status, code := n.create(t, org, p)
	require.Equal(t, 201, status, code)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = n.app.Listener(ln) }()
	defer n.app.Shutdown()
	logs := &loggingProxy{}
	proxy := httptest.NewServer(logs.handler(t, "http://"+ln.Addr().String()))
	defer proxy.Close()

	alice := n.resident(t, "old-town")
	c := client.New(proxy.URL)
	c.Now = n.clock.Now
	ctx := context.Background()
	signed, err := c.SignPetition(ctx, alice, "trees", false, &api.Answers{AgeBand: "45-64"})
	require.NoError(t, err)
	assert.Equal(t, api.SignatureSigned, signed.Status, "the default policy appends each act at once")
	require.NotNil(t, signed.Receipt)
	withdrawn, err := c.SignPetition(ctx, alice, "trees", true, nil)
	require.NoError(t, err)
	assert.Equal(t, api.SignatureWithdrawn, withdrawn.Status)
	status2, err := c.SignatureStatus(ctx, "trees", alice.Nullifier("trees"))
	require.NoError(t, err)
	assert.Equal(t, withdrawn.Receipt.Index, status2.Receipt.Index)

	acts := logs.requests("POST /api/v1/petitions/trees/signatures")
	require.Len(t, acts, 2)
	for _, r := range acts {
		for _, m := range markers(alice) {
			assert.NotContains(t, r, string(m), "a marker of the resident in\n%s", r)
		}
		body := r[strings.LastIndex(r, "\n")+1:]
		var fields map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(body)), &fields), r)
		for _, f := range []string{"citizen", "statement", "nonce", "issued_at"} {
			assert.NotContains(t, fields, f)
		}
	}
	issued := logs.requests("POST /api/v1/petitions/tokens")
	require.Len(t, issued, 1)
	assert.Contains(t, issued[0], alice.CitizenID(), "the proxy sees citizen ids where they are sent")
}
