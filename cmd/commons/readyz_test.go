package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/nodetest"
)

// TestReadyzRefusesUntilTheDemoIsPublished holds a --demo node after it listens and before its
// city loads: /readyz answers 503 with a JSON error, while the public API already serves and
// has no released day yet. (TestDemoCity starts a demo node and finds its month released as
// soon as the node says it is ready.)
func TestReadyzRefusesUntilTheDemoIsPublished(t *testing.T) {
	t.Parallel()
	logs := &nodetest.Logs{}
	cfg := defaultServeConfig()
	cfg.Data, cfg.Addr, cfg.Demo = t.TempDir(), "127.0.0.1:0", true
	urls := make(chan string, 1)
	logger := slog.New(slog.NewTextHandler(lineWatch{logs, servingLine, urls}, nil))
	held, release := make(chan struct{}), make(chan struct{})
	cfg.beforeDemo = func() {
		close(held)
		<-release
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runNode(ctx, cfg, logger) }()
	deadline := testContext(t)
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("node stopped before serving: %v; logs:\n%s", err, logs.String())
	case <-deadline.Done():
		t.Fatal("node not serving by the test's deadline")
	}
	select {
	case <-held:
	case <-deadline.Done():
		t.Fatal("the node never reached the demo load")
	}

	get := func(path string) (int, []byte) {
		req, err := http.NewRequestWithContext(deadline, http.MethodGet, url+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, body
	}
	status, body := get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	var refusal struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal(body, &refusal), string(body))
	assert.Equal(t, "unavailable", refusal.Error.Code)
	assert.Contains(t, refusal.Error.Message, "not ready")
	status, _ = get("/healthz")
	assert.Equal(t, http.StatusOK, status, "alive, only not ready")
	status, body = get("/api/v1/stats/air")
	require.Equal(t, http.StatusOK, status)
	var idx struct{ Epochs []string }
	require.NoError(t, json.Unmarshal(body, &idx))
	assert.Empty(t, idx.Epochs, "nothing is released before the demo loads")

	// Stopping the node there ends its start: the loader sees the cancelled context.
	cancel()
	close(release)
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-deadline.Done():
		t.Fatal("the node did not stop by the test's deadline")
	}
}
