// Command benchsummary reads `go test -bench` output on stdin and prints, for every benchmark
// that has sub-benchmarks whose names start with "baseline", how each other sibling compares
// with each baseline measured in the same run: the ratio of time per operation, so machine
// noise that affects both cancels out. A benchmark's own metrics (latency percentiles, the
// decrypt phase's share of the raw rate) are printed beside it.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

type result struct {
	name  string
	ns    float64
	extra []string // the benchmark's own metrics ("4.2 p99-ms"), beside time, bytes and allocations
}

// metrics returns the custom metrics of a benchmark line's fields after ns/op.
func metrics(f []string) []string {
	var out []string
	for i := 0; i+1 < len(f); i += 2 {
		if unit := f[i+1]; unit != "B/op" && unit != "allocs/op" {
			out = append(out, f[i]+" "+unit)
		}
	}
	return out
}

func main() {
	groups := map[string][]result{}
	var order []string
	pkg := ""
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "pkg:" {
			pkg = f[1]
		}
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || f[3] != "ns/op" {
			continue
		}
		ns, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // drop the GOMAXPROCS suffix
			}
		}
		parent, child, ok := strings.Cut(name, "/")
		if !ok {
			continue
		}
		key := pkg + " " + parent
		if _, seen := groups[key]; !seen {
			order = append(order, key)
		}
		groups[key] = append(groups[key], result{child, ns, metrics(f[4:])})
	}
	fmt.Println("\nSummary: each figure against the baseline measured in the same run")
	for _, key := range order {
		rs := groups[key]
		var bases, others []result
		for _, r := range rs {
			if strings.HasPrefix(r.name, "baseline") {
				bases = append(bases, r)
			} else {
				others = append(others, r)
			}
		}
		if len(bases) == 0 {
			continue
		}
		fmt.Printf("\n%s\n", key)
		for _, b := range bases {
			fmt.Printf("  %-45s %12.0f ns/op\n", b.name, b.ns)
			if len(b.extra) > 0 {
				fmt.Printf("      %s\n", strings.Join(b.extra, ", "))
			}
		}
		for _, r := range others {
			fmt.Printf("  %-45s %12.0f ns/op  (%.0f/s)\n", r.name, r.ns, 1e9/r.ns)
			if len(r.extra) > 0 {
				fmt.Printf("      %s\n", strings.Join(r.extra, ", "))
			}
			for _, b := range bases {
				fmt.Printf("      %6.2f× the speed of %s\n", b.ns/r.ns, b.name)
			}
		}
	}
}
