package main

import (
	"testing"
	"time"

	"github.com/commons-city/commons/nodetest"
)

func BenchmarkZZProfileSignatures(b *testing.B) {
	orig := viralNode
	viralNode = func(b *testing.B) *node {
		return startNodeWithClockBatch(b, b.TempDir(), &nodetest.Logs{}, &testClock{}, 100*time.Millisecond)
	}
	defer func() { viralNode = orig }()
	for range b.N {
		b.StopTimer()
		n, bodies := viralPetition(b)
		b.StartTimer()
		start := time.Now()
		postAll(b, n.url+"/api/v1/petitions/viral/signatures", bodies)
		waitCount(b, n.url, petitionSigners)
		b.ReportMetric(float64(petitionSigners)/time.Since(start).Seconds(), "signatures/s")
		b.StopTimer()
		n.stop()
	}
}
