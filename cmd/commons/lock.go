package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lockFile is the file in the data directory that a serving node holds an exclusive lock on
// (flock), and in which it says who it is. The lock, not the file, is what counts: the kernel
// drops it when the process ends, however it ends, so a file left behind by a killed node
// blocks nobody.
const lockFile = "commons.lock"

// dataLock is a node's hold on its data directory.
type dataLock struct {
	f       *os.File
	started time.Time
}

// lockData takes the data directory for this process, or says in Commons' words which node
// holds it and what to do. Badger's own lock (badger/LOCK) would only say that it cannot
// acquire a directory lock.
func lockData(dir string) (*dataLock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data lock: %s: %w", path, err)
		}
		holder := "another process"
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			holder = "another Commons node (" + strings.Join(strings.Split(strings.TrimSpace(string(b)), "\n"), ", ") + ")"
		}
		return nil, fmt.Errorf("%s is in use by %s, which holds %s. Two nodes must never share a data directory: "+
			"stop that node first (SIGTERM lets it finish its writes; with systemd, systemctl stop commons), "+
			"or start this one with another --data", dir, holder, path)
	}
	l := &dataLock{f: f, started: time.Now().UTC()}
	if err := l.say(""); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

// say writes who holds the lock: the process id, the host, when it started, and the URL it
// serves once it is known.
func (l *dataLock) say(url string) error {
	host, _ := os.Hostname()
	text := fmt.Sprintf("pid %d\nhost %s\nstarted %s\n", os.Getpid(), host, l.started.Format(time.RFC3339))
	if url != "" {
		text += "serving " + url + "\n"
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("data lock: %w", err)
	}
	if _, err := l.f.WriteAt([]byte(text), 0); err != nil {
		return fmt.Errorf("data lock: %w", err)
	}
	return nil
}

// release drops the lock; the file stays, harmless.
func (l *dataLock) release() {
	l.f.Close()
}
