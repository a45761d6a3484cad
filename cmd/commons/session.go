package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
)

// global are the flags every client command takes (globalFlags), and the admin token file of
// the operator's commands.
type global struct {
	server, wallet string
	passphraseFile string
	json           bool
	adminTokenFile string
}

// defaultWallet is where the wallet lives unless --wallet or COMMONS_WALLET says otherwise.
func defaultWallet() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "commons", "wallet")
}

// clientFlags is the flag set of a client command, with --server, --wallet and
// --passphrase-file.
func clientFlags(name string) (*flag.FlagSet, *global) {
	g := &global{}
	fs := newFlagSet(name)
	fs.StringVar(&g.server, "server", envOr("COMMONS_SERVER", "http://127.0.0.1:8080"), "server `URL`")
	fs.StringVar(&g.wallet, "wallet", envOr("COMMONS_WALLET", defaultWallet()), "wallet `file`")
	fs.StringVar(&g.passphraseFile, "passphrase-file", "", "`file` holding the wallet's passphrase")
	return fs, g
}

// jsonFlag adds --json to a command that prints a result.
func (g *global) jsonFlag(fs *flag.FlagSet) {
	fs.BoolVar(&g.json, "json", false, "print the result as JSON instead of text")
}

// adminFlag adds --admin-token-file to an operator's command.
func (g *global) adminFlag(fs *flag.FlagSet) {
	fs.StringVar(&g.adminTokenFile, "admin-token-file", "", "`file` holding the admin token (DATA/admin.token)")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// adminToken reads the admin token from --admin-token-file, or from $COMMONS_ADMIN_TOKEN:
// never from a flag, which other users could read in the process list.
func (g *global) adminToken() (string, error) {
	token := os.Getenv("COMMONS_ADMIN_TOKEN")
	if g.adminTokenFile != "" {
		b, err := os.ReadFile(g.adminTokenFile)
		if err != nil {
			return "", err
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return "", errors.New("no token: pass --admin-token-file DATA/admin.token or set COMMONS_ADMIN_TOKEN")
	}
	return token, nil
}

// session is what a client command works with: a client of the server, the resident's
// wallet if the command needs it, and a context that bounds the whole command.
type session struct {
	*global
	c      *client.Client
	w      *crypto.Wallet // nil for commands that sign nothing
	ctx    context.Context
	cancel context.CancelFunc
}

// connect starts a session without a wallet, bounded by timeout. close ends it.
func (g *global) connect(timeout time.Duration) *session {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return &session{global: g, c: client.New(g.server), ctx: ctx, cancel: cancel}
}

// open starts a session with the wallet, which it loads (asking for its passphrase if it
// has one and none was given). close ends it.
func (g *global) open(timeout time.Duration) (*session, error) {
	w, err := g.existingWallet()
	if err != nil {
		return nil, err
	}
	s := g.connect(timeout)
	s.w = w
	return s, nil
}

// existingWallet loads the wallet, saying how to make one if there is none.
func (g *global) existingWallet() (*crypto.Wallet, error) {
	w, err := g.loadWallet()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (create one with `commons wallet init`)", err)
	}
	return w, err
}

// close releases the session's context.
func (s *session) close() { s.cancel() }

// show prints a command's result: v as JSON with --json, else text written for people.
func (g *global) show(v any, text func(w io.Writer)) error {
	if g.json {
		return printJSON(v)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	text(tw)
	return tw.Flush()
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// showReceipt prints a ledger receipt: what was recorded, where, and under which checkpoint.
func (g *global) showReceipt(done string, r api.Receipt) error {
	return g.show(r, func(w io.Writer) {
		fmt.Fprintf(w, "%s: ledger entry %d, under the signed checkpoint of size %d\n", done, r.Index, checkpointSize(r.Checkpoint))
	})
}

// checkpointSize is the tree size a checkpoint names on its second line (0 if unreadable).
func checkpointSize(checkpoint string) uint64 {
	lines := strings.SplitN(checkpoint, "\n", 3)
	if len(lines) < 2 {
		return 0
	}
	n, _ := strconv.ParseUint(lines[1], 10, 64)
	return n
}
