package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/nodetest"
)

// followerDir holds the Fedify follower and its lockfile.
var followerDir = filepath.Join("..", "..", "activitypub", "testdata", "follower")

// fedify returns the node binary that runs the Fedify follower, with its packages installed
// (npm ci from the lockfile when they are missing). Without Node.js 20 or later and npm the
// test is skipped, except on CI, which installs them (.ci/run).
func fedify(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		var out []byte
		if out, err = exec.Command(node, "-p", "process.versions.node.split('.')[0]").Output(); err == nil {
			if major, _ := strconv.Atoi(strings.TrimSpace(string(out))); major < 20 {
				err = os.ErrNotExist
			}
		}
	}
	if err == nil {
		if _, err = os.Stat(filepath.Join(followerDir, "node_modules", "@fedify", "fedify")); err != nil {
			cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
			cmd.Dir = followerDir
			var out []byte
			if out, err = cmd.CombinedOutput(); err != nil {
				t.Logf("npm ci in %s: %s", followerDir, out)
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Fedify follower needs Node.js ≥ 20 and npm, and CI=true: %v", err)
		}
		t.Skipf("skipping the Fedify follower: Node.js ≥ 20 with npm is needed (%v)", err)
	}
	return node
}

// followerEvent is one line the Fedify follower prints.
type followerEvent struct {
	Event, Origin, Error           string
	ID, Type, Username, Inbox, Key string
	Path, Body, Signature          string
	Status                         int
}

// TestFediverseFollowerWithFedify has an independent ActivityPub implementation, a follower
// written with Fedify and run by Node on loopback, follow old-town on the real binary: it
// finds the actor through WebFinger and reads its document; the node verifies its signed
// Follow and answers a signed Accept; after a release, the follower receives the Create of a
// Note in both languages and Fedify verifies its signature against the actor's key (it answers
// 202, and 401 to an unsigned copy). Every delivery is an item of the public outbox, byte for
// byte, and the follower is in no ledger entry; its Undo empties the followers count.
func TestFediverseFollowerWithFedify(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	node := fedify(t)
	ctx := testContext(t)
	data := t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	host := strings.TrimPrefix(n.url, "http://")

	cmd := exec.CommandContext(ctx, node, "follower.mjs", "acct:"+oldTown+"@"+host)
	cmd.Dir = followerDir
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	events := make(chan followerEvent, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e followerEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				events <- e
			}
		}
	}()
	// next waits for the follower's next event that satisfies ok.
	next := func(what string, ok func(followerEvent) bool) followerEvent {
		t.Helper()
		for {
			select {
			case e, open := <-events:
				require.True(t, open, "the follower exited while the test waited for %s; its stderr:\n%s", what, stderr.String())
				require.NotEqual(t, "error", e.Event, "follower: %s", e.Error)
				if ok(e) {
					return e
				}
			case <-ctx.Done():
				t.Fatalf("no %s from the follower by the test's deadline; node logs:\n%s", what, n.logs.String())
			}
		}
	}
	listening := next("listening", func(e followerEvent) bool { return e.Event == "listening" })
	actorID := n.url + "/neighbourhoods/" + oldTown

	// Fedify read the actor document found through WebFinger, key included.
	following := next("following", func(e followerEvent) bool { return e.Event == "following" })
	assert.Equal(t, actorID, following.ID)
	assert.Equal(t, "Service", following.Type)
	assert.Equal(t, oldTown, following.Username)
	assert.Equal(t, actorID+"/inbox", following.Inbox)
	assert.Equal(t, actorID+"#main-key", following.Key)

	// The node verified the Follow and answered a signed Accept, which Fedify verified.
	accept := next("Accept", func(e followerEvent) bool { return e.Event == "post" && strings.Contains(e.Body, `"type":"Accept"`) })
	assert.Equal(t, http.StatusAccepted, accept.Status, "Fedify accepts the node's signature")
	assert.Contains(t, accept.Signature, `keyId="`+actorID+`#main-key"`)
	assert.Equal(t, 1, totalItems(t, actorID+"/followers"))

	// A release: the follower receives its Create, and Fedify verifies the signature.
	day, _ := releaseDay(ctx, t, n)
	title := "Air quality in Ciutat Vella on " + day.Format("Monday 2 January 2006")
	created := next("the release's Create", func(e followerEvent) bool {
		return e.Event == "post" && strings.Contains(e.Body, `"type":"Create"`) && strings.Contains(e.Body, title)
	})
	assert.Equal(t, http.StatusAccepted, created.Status, "Fedify accepts the node's signature on the Create")
	var create struct {
		Actor  string
		Object struct {
			Type, Content string
			ContentMap    map[string]string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(created.Body), &create))
	assert.Equal(t, actorID, create.Actor)
	assert.Equal(t, "Note", create.Object.Type)
	assert.Contains(t, create.Object.ContentMap["en"], title)
	assert.Contains(t, create.Object.ContentMap["fr"], "Qualité de l&#39;air à Ciutat Vella")
	assert.Equal(t, create.Object.ContentMap["en"], create.Object.Content)

	// Fedify refuses the same Create unsigned: its 202 above was a verified signature.
	resp, err := http.Post(listening.Origin+"/users/alice/inbox", "application/activity+json", strings.NewReader(created.Body))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	next("the unsigned copy", func(e followerEvent) bool { return e.Event == "post" && e.Signature == "" })

	// What left the node is what its outbox publishes, and the follower is in no ledger entry.
	outbox := getJSON(t, actorID+"/outbox")
	var items []any
	require.NoError(t, json.Unmarshal(outbox["orderedItems"], &items))
	var sent map[string]any
	require.NoError(t, json.Unmarshal([]byte(created.Body), &sent))
	delete(sent, "@context")
	assert.True(t, slices.ContainsFunc(items, func(it any) bool { return reflect.DeepEqual(it, any(sent)) }),
		"the delivered Create is an item of the public outbox, field for field")
	resp, err = http.Get(n.url + "/api/v1/ledger/checkpoint")
	require.NoError(t, err)
	cp, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	lines := strings.Split(string(cp), "\n")
	require.Greater(t, len(lines), 2)
	size, err := strconv.ParseUint(lines[1], 10, 64)
	require.NoError(t, err)
	require.NotZero(t, size)
	for i := range size {
		b := httpGet(t, n.url+"/api/v1/ledger/entries/"+strconv.FormatUint(i, 10))
		assert.NotContains(t, string(b), strings.TrimPrefix(listening.Origin, "http://"), "entry %d", i)
	}

	// Undo of the Follow: no follower left.
	_, err = io.WriteString(stdin, "undo\n")
	require.NoError(t, err)
	next("undone", func(e followerEvent) bool { return e.Event == "undone" })
	assert.Equal(t, 0, totalItems(t, actorID+"/followers"))
}

// getJSON reads an ActivityStreams or JSON document's top-level fields.
func getJSON(t *testing.T, url string) map[string]json.RawMessage {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/activity+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	var m map[string]json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return m
}

// totalItems is a collection's count.
func totalItems(t *testing.T, url string) int {
	t.Helper()
	var n int
	require.NoError(t, json.Unmarshal(getJSON(t, url)["totalItems"], &n))
	return n
}
