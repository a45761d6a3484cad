package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestArchitectureTableIsTrue holds docs/architecture.md's package table against the code:
// every package of the module has a row, each row's imports are `go list`'s, and no package
// imports one listed below it (imports run one way, down the flow).
func TestArchitectureTableIsTrue(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	const module = "github.com/commons-city/commons/"
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	require.NoError(t, err)
	actual := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		require.NoError(t, dec.Decode(&p))
		var own []string
		for _, imp := range p.Imports {
			if rest, ok := strings.CutPrefix(imp, module); ok {
				own = append(own, rest)
			}
		}
		actual[strings.TrimPrefix(p.ImportPath, module)] = own
	}

	f, err := os.Open(filepath.Join(root, "docs", "architecture.md"))
	require.NoError(t, err)
	defer f.Close()
	documented := map[string][]string{}
	var order []string
	sc := bufio.NewScanner(f)
	inPackages := false
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "## ") {
			inPackages = line == "## Packages"
		}
		cells := strings.Split(sc.Text(), " | ")
		if !inPackages || len(cells) != 3 || !strings.HasPrefix(cells[0], "| `") {
			continue
		}
		name := strings.Trim(cells[0], "|` ")
		var imports []string
		if list := strings.TrimSuffix(strings.TrimSpace(cells[2]), " |"); list != "—" {
			imports = strings.Split(list, ", ")
		}
		documented[name] = imports
		order = append(order, name)
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, order, "the package table was not found")

	for pkg, imports := range actual {
		doc, ok := documented[pkg]
		if !assert.True(t, ok, "package %s has no row in docs/architecture.md", pkg) {
			continue
		}
		assert.ElementsMatch(t, imports, doc, "the imports of %s", pkg)
		for _, imp := range imports {
			assert.Less(t, slices.Index(order, imp), slices.Index(order, pkg),
				"%s imports %s, which the table lists below it: imports must run one way", pkg, imp)
		}
	}
	for _, pkg := range order {
		_, ok := actual[pkg]
		assert.True(t, ok, "docs/architecture.md lists %s, which does not exist", pkg)
	}
}
