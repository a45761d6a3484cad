package main

import "testing"

// needsBinary skips t under -short: t builds or runs the commons binary, which takes seconds.
func needsBinary(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the commons binary; skipped with -short")
	}
}
