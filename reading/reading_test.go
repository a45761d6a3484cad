package reading

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMaxReadingBytes marshals a reading larger than any valid one: labels of MaxLabel bytes
// that JSON escapes six-fold, the longest sensor type and time, and all six values at the
// longest a float64 prints (some out of their range).
// Each takes at most MaxReadingBytes in a batch, so a day's plaintext is at most MaxBatchBytes.
func TestMaxReadingBytes(t *testing.T) {
	t.Parallel()
	label := strings.Repeat("<", MaxLabel)
	at := time.Date(2026, 12, 31, 23, 59, 59, 123456789, time.FixedZone("", -(13*3600+59*60)))
	long := -0.000012345678901234567 // "-1.2345678901234567e-05", 23 characters
	r := Reading{Sensor: label, SensorType: SensorPlantower, RecordedAt: at, Cell: label,
		Values: Values{PM10: &long, PM2_5: &long, Temperature: &long, Humidity: &long, Pressure: &long, NoiseLAeq: &long}}
	one, err := MarshalBatch([]Reading{r})
	require.NoError(t, err)
	two, err := MarshalBatch([]Reading{r, r})
	require.NoError(t, err)
	per := len(two) - len(one) // one reading and its comma
	t.Logf("the largest reading takes %d bytes in a batch", per)
	assert.LessOrEqual(t, per, MaxReadingBytes)
	assert.Greater(t, per, MaxReadingBytes*9/10, "the bound is not loose")
	assert.Equal(t, len(one)-per+1, 21, "the batch's own bytes")
}
