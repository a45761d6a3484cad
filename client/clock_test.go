package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
)

// A client issues its statements on its own clock when it has one (the demo loader's, the
// node's), and on the wall clock otherwise.
func TestStatementsAreIssuedOnTheClientsClock(t *testing.T) {
	t.Parallel()
	issued := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var st struct {
			Statement struct {
				IssuedAt string `json:"issued_at"`
			} `json:"statement"`
		}
		if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		issued <- st.Statement.IssuedAt
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	w, err := crypto.NewWallet()
	require.NoError(t, err)
	purpose := Purpose{Purpose: api.Purpose{ID: "air-quality/daily", Version: 1}}

	pinned := time.Date(2026, 9, 3, 12, 0, 0, 0, time.UTC)
	c := New(srv.URL)
	c.Now = func() time.Time { return pinned }
	_, err = c.Grant(context.Background(), w, purpose)
	require.NoError(t, err)
	assert.Equal(t, "2026-09-03T12:00:00Z", <-issued)

	c.Now = nil
	_, err = c.Grant(context.Background(), w, purpose)
	require.NoError(t, err)
	at, err := time.Parse(time.RFC3339, <-issued)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), at, time.Minute)
}
