package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressBar draws "label [#####.....]  45%  1234/2742" on a terminal, redrawn in place at
// most ten times a second. On anything else (a pipe, a log file) it stays silent: the summary
// at the end says what happened.
type progressBar struct {
	out   io.Writer
	label string
	tty   bool
	last  time.Time
	drawn bool
}

func newProgressBar(out *os.File, label string) *progressBar {
	st, err := out.Stat()
	return &progressBar{out: out, label: label, tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

const barWidth = 30

func (p *progressBar) update(done, total int) {
	if !p.tty || total <= 0 || (done < total && time.Since(p.last) < 100*time.Millisecond) {
		return
	}
	p.last = time.Now()
	p.drawn = true
	fmt.Fprint(p.out, "\r"+renderBar(p.label, done, total))
}

func (p *progressBar) finish() {
	if p.drawn {
		fmt.Fprintln(p.out)
	}
}

// renderBar is one frame of the bar.
func renderBar(label string, done, total int) string {
	filled := barWidth * done / total
	return fmt.Sprintf("%s [%s%s] %3d%%  %d/%d", label, strings.Repeat("#", filled),
		strings.Repeat(".", barWidth-filled), 100*done/total, done, total)
}
