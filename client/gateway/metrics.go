package gateway

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
)

// metrics are the gateway's counters since it started. They never carry a sensor label, a
// resident id or a location: only counts and fixed reasons.
type metrics struct {
	mu             sync.Mutex
	accepted       uint64
	rejected       map[string]uint64 // by reason
	valuesDropped  uint64
	unknownTypes   uint64
	unauthorized   uint64
	uploaded       uint64
	uploadFailures uint64
	held           uint64
}

func (m *metrics) add(field *uint64, n int) {
	m.mu.Lock()
	*field += uint64(n)
	m.mu.Unlock()
}

func (m *metrics) reject(reason string) {
	m.mu.Lock()
	if m.rejected == nil {
		m.rejected = map[string]uint64{}
	}
	m.rejected[reason]++
	m.mu.Unlock()
}

// write renders the metrics in the Prometheus text exposition format (version 0.0.4).
func (m *metrics) write(w io.Writer, pendingReadings, pendingBatches int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	one := func(name, typ, help string, v uint64) {
		metric(name, typ, help)
		fmt.Fprintf(&b, "%s %d\n", name, v)
	}
	one("commons_gateway_readings_accepted_total", "counter",
		"Readings accepted from sensors and stored in the outbox.", m.accepted)
	metric("commons_gateway_readings_rejected_total", "counter",
		"Posts refused without storing a reading, by reason.")
	for _, reason := range slices.Sorted(maps.Keys(m.rejected)) {
		fmt.Fprintf(&b, "commons_gateway_readings_rejected_total{reason=\"%s\"} %d\n", escapeLabel(reason), m.rejected[reason])
	}
	one("commons_gateway_values_dropped_total", "counter",
		"Values of a known type dropped: not a finite number, or a repeated quantity.", m.valuesDropped)
	one("commons_gateway_unknown_types_total", "counter",
		"Values dropped because their value_type is unknown.", m.unknownTypes)
	one("commons_gateway_requests_unauthorized_total", "counter",
		"Requests refused for missing or wrong Basic credentials.", m.unauthorized)
	one("commons_gateway_batches_uploaded_total", "counter",
		"Batches the server acknowledged.", m.uploaded)
	one("commons_gateway_upload_failures_total", "counter",
		"Upload attempts that failed and will be retried.", m.uploadFailures)
	one("commons_gateway_batches_held_total", "counter",
		"Batches the server refused for good, kept in the outbox's held/ directory.", m.held)
	one("commons_gateway_pending_readings", "gauge",
		"Readings in the outbox not yet acknowledged by the server.", uint64(pendingReadings))
	one("commons_gateway_pending_batches", "gauge",
		"Closed batches in the outbox not yet acknowledged by the server.", uint64(pendingBatches))
	_, err := io.WriteString(w, b.String())
	return err
}

// escapeLabel escapes a label value as the text format requires.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
