package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

// needsBinary skips t under -short: t builds or runs the commons binary, which takes seconds.
func needsBinary(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the commons binary; skipped with -short")
	}
}

// inParallel calls do for each i in [0, n) from workers goroutines, and fails b once they have
// all stopped if any call returned an error; a goroutine stops at its first error.
func inParallel(b *testing.B, workers, n int, do func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := do(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// browserContext skips t under -short, since it drives chromium, and returns the test's
// context.
func browserContext(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test; skipped with -short")
	}
	return testContext(t)
}
