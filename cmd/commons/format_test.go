package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/petition"
)

// backupOf writes a backup of a database whose ledger holds entries, as `commons backup`
// streams it.
func backupOf(t *testing.T, entries ...string) string {
	t.Helper()
	c := nodetest.New(t, nodetest.Options{Origin: "test.commons.local/format", Synced: true})
	for _, e := range entries {
		_, err := c.Ledger.Append(context.Background(), []byte(e))
		require.NoError(t, err)
	}
	file := filepath.Join(t.TempDir(), "backup")
	f, err := os.Create(file)
	require.NoError(t, err)
	_, err = c.DB.Backup(f, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return file
}

// TestRestoreRefusesAFormat1Backup restores backups into new data directories: a backup whose
// ledger holds format-1 petitions (made by the operator, signatures under node-keyed
// nullifiers) is refused like a format-1 directory, rather than written out as format 2 and
// served with those petitions skipped; a format-2 backup is restored.
func TestRestoreRefusesAFormat1Backup(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	old := backupOf(t,
		`{"body":{"id":"trees"},"hash":"ab","petition":"trees","type":"petition.create"}`,
		`{"nullifier":"00","petition":"trees","type":"petition.sign"}`)
	dir := filepath.Join(t.TempDir(), "data")
	_, err := restore(old, dir, logger)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "data format 1")
	assert.NoFileExists(t, filepath.Join(dir, "FORMAT"))
	assert.NoDirExists(t, filepath.Join(dir, "badger"))

	current := backupOf(t,
		`{"body":{"id":"trees"},"citizen":"c-1","hash":"ab","petition":"trees","recipient":"age1x","type":"petition.create"}`,
		`{"epoch":"2026-05-04","nullifier":"00","petition":"trees","type":"petition.sign"}`)
	dir = filepath.Join(t.TempDir(), "data")
	_, err = restore(current, dir, logger)
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "FORMAT"))
	require.NoError(t, err)
	assert.Equal(t, "commons-data 3\n", string(b), "served as format 3: upgradeData runs at every start")
}

// TestFormat2IsUpgradedAtStart builds the data of a format-2 node — a petition without a token
// key, a signature logged under a wallet nullifier, and the private binding of its resident to
// that nullifier — and upgrades it as a start does: the binding is gone, replaced by an
// issuance record without the nullifier (so the resident is issued no second token), the open
// petition gets a token key, the old signature is still counted by the node and by a recount
// of the ledger, and FORMAT says 3. A second start changes nothing.
func TestFormat2IsUpgradedAtStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := nodetest.New(t, nodetest.Options{})
	now := c.Clock.Now()
	signer, organiser := mustWallet(t), mustWallet(t)
	for _, w := range []*crypto.Wallet{signer, organiser} {
		c.Append(t, api.Entry{Type: api.EntryInvite, Hash: crypto.DocumentHash([]byte(w.CitizenID()))})
		c.Append(t, api.Entry{Type: api.EntryRegister, Citizen: w.CitizenID(), SigningKey: crypto.EncodeKey(w.SigningPublicKey()),
			Recipient: w.Recipient().String(), Hash: crypto.DocumentHash([]byte(w.CitizenID()))})
	}
	c.Append(t, api.Entry{Type: api.EntryOrganiserGrant, Citizen: organiser.CitizenID()})
	doc := api.Petition{ID: "trees", Title: "Trees", Opens: now.Add(-time.Hour), Closes: now.Add(24 * time.Hour), Threshold: 5}
	body, err := json.Marshal(doc)
	require.NoError(t, err)
	st, err := organiser.SignStatement(crypto.Statement{Type: crypto.TypePetitionCreate, Petition: "trees",
		Document: crypto.DocumentHash(body), IssuedAt: now.Format(time.RFC3339), Nonce: "n1"})
	require.NoError(t, err)
	c.Append(t, api.Entry{Type: api.EntryPetition, Petition: "trees", Body: body, Hash: crypto.DocumentHash(body),
		Citizen: organiser.CitizenID(), IssuedAt: st.Statement.IssuedAt, Nonce: "n1", Signature: st.Signature, Recipient: "age1legacy"})
	legacy := strings.Repeat("ab", 32) // a format-2 nullifier: HMAC of the petition id
	c.Append(t, api.Entry{Type: api.EntryPetitionSign, Petition: "trees", Nullifier: legacy, Epoch: now.Format(time.DateOnly)})
	binding := []byte("p/signer/trees\x00" + signer.CitizenID())
	require.NoError(t, c.Ledger.Write(ctx, ledger.Write{Puts: []ledger.Put{{Key: binding, Value: []byte(legacy)}}}))

	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	require.NoError(t, upgradeData(ctx, dir, c.Ledger, c.Store, c.State, now, logger))
	b, err := os.ReadFile(filepath.Join(dir, "FORMAT"))
	require.NoError(t, err)
	assert.Equal(t, "commons-data 3\n", string(b))
	require.NoError(t, c.DB.View(func(txn *badger.Txn) error {
		_, err := txn.Get(binding)
		assert.ErrorIs(t, err, badger.ErrKeyNotFound, "the binding of a resident to a nullifier is gone")
		return nil
	}))
	issued, err := c.Store.Issued("trees", signer.CitizenID())
	require.NoError(t, err)
	assert.NotEmpty(t, issued, "the resident who signed is recorded as issued")
	assert.NotContains(t, issued, legacy, "without the nullifier")
	p, ok := c.State.Petition("trees")
	require.True(t, ok)
	assert.NotEmpty(t, p.TokenKey, "the open petition issues tokens")
	assert.Equal(t, 1, p.Signatures, "the old signature still counts")
	recount, err := petition.Recount("trees", func(visit func(uint64, api.Entry) error) error {
		return c.Ledger.Scan(ctx, 0, c.Ledger.Size(), func(i uint64, raw []byte) error {
			e, err := api.ParseEntry(raw)
			if err != nil {
				return err
			}
			return visit(i, e)
		})
	})
	require.NoError(t, err)
	assert.Equal(t, 1, recount.Online, "the recount equals the node's count")

	size := c.Ledger.Size()
	require.NoError(t, upgradeData(ctx, dir, c.Ledger, c.Store, c.State, now, logger))
	assert.Equal(t, size, c.Ledger.Size(), "a second start appends nothing")
}

func mustWallet(t *testing.T) *crypto.Wallet {
	t.Helper()
	w, err := crypto.NewWallet()
	require.NoError(t, err)
	return w
}
