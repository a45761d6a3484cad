package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procMem is a process's resident memory from /proc/PID/status: all of it now and at its peak,
// and now split into anonymous pages (heap, stacks, Badger's memtables) and file-backed ones
// (Badger's memory-mapped tables and logs: clean pages the kernel reclaims under pressure).
type procMem struct{ rss, peak, anon, file int64 }

// procStat reads a process's CPU time (user+system) and its memory, from /proc.
func procStat(b *testing.B, pid int) (cpu time.Duration, m procMem) {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
	status, err := procStatus(pid)
	if err != nil {
		b.Fatal(err)
	}
	return cpu, procMem{rss: status["VmRSS"], peak: status["VmHWM"], anon: status["RssAnon"], file: status["RssFile"]}
}

// vmRSS reads a process's resident set size from /proc.
func vmRSS(pid int) (int64, error) {
	m, err := procStatus(pid)
	if err != nil {
		return 0, err
	}
	rss, ok := m["VmRSS"]
	if !ok {
		return 0, errors.New("no VmRSS (the process is gone)")
	}
	return rss, nil
}

// procStatus reads the kB fields of /proc/PID/status, in bytes.
func procStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if v, isKB := strings.CutSuffix(strings.TrimSpace(v), " kB"); ok && isKB {
			if kb, err := strconv.ParseInt(v, 10, 64); err == nil {
				out[k] = kb << 10
			}
		}
	}
	return out, nil
}
