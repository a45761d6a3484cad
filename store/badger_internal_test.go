package store

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadgerLogsOneLineEach feeds the slogger Badger's own multi-line messages (its cache
// advice prints a histogram over several lines, every message ends in a newline): each comes
// out as one JSON line without a newline in its message, the cache advice at debug level only.
func TestBadgerLogsOneLineEach(t *testing.T) {
	t.Parallel()
	histogram := "\n -- Histogram: \nMin value: 1 \nMax value: 4 \nMean: 2.50 \nCount: 2 \n[0, 2) 1 50.00% \n --\n"
	for _, tc := range []struct {
		name  string
		log   func(s slogger)
		level string // "" when nothing is logged at info
	}{
		{"cache advice", func(s slogger) {
			s.Warningf("%s might be too small. Metrics: %s\n", "Block cache", "hit: 1 miss: 9 \nhit-ratio: 0.10")
		}, ""},
		{"cache life expectancy", func(s slogger) { s.Warningf("Cache life expectancy (in seconds): %+v\n", histogram) }, ""},
		{"compaction warning", func(s slogger) { s.Warningf("While running doCompact: %v\n", "disk\nfull") }, "WARN"},
		{"error", func(s slogger) { s.Errorf("Failure: %v\n", "one\n  two") }, "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
				var out bytes.Buffer
				tc.log(slogger{slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: level}))})
				if level == slog.LevelInfo && tc.level == "" {
					assert.Empty(t, out.String(), "the cache advice is debug only")
					continue
				}
				lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
				require.Len(t, lines, 1, out.String())
				var rec struct{ Level, Msg string }
				require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
				assert.NotContains(t, rec.Msg, "\n")
				assert.NotContains(t, rec.Msg, "  ", "runs of white space are one space")
				assert.True(t, strings.HasPrefix(rec.Msg, "badger: "), rec.Msg)
				if tc.level == "" {
					assert.Equal(t, "DEBUG", rec.Level)
				} else {
					assert.Equal(t, tc.level, rec.Level)
				}
			}
		})
	}
}
