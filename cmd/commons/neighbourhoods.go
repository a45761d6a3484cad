package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/commons-city/commons/geo"
)

// neighbourhoodView is one neighbourhood as `commons neighbourhoods --json` prints it.
type neighbourhoodView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// neighbourhoodsCmd lists the server's neighbourhoods, from its public GeoJSON grid.
func neighbourhoodsCmd(args []string) error {
	fs, g := clientFlags("neighbourhoods")
	g.jsonFlag(fs)
	if _, err := parseArgs(fs, args, 0, 0, ""); err != nil {
		return err
	}
	s := g.connect(time.Minute)
	defer s.close()
	grid, err := s.c.Neighbourhoods(s.ctx)
	if err != nil {
		return fmt.Errorf("neighbourhoods: %w", err)
	}
	views := neighbourhoodViews(grid)
	return g.show(views, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tNAME")
		for _, v := range views {
			fmt.Fprintf(w, "%s\t%s\n", v.ID, v.Name)
		}
	})
}

func neighbourhoodViews(grid *geo.Map) []neighbourhoodView {
	var out []neighbourhoodView
	for _, id := range grid.IDs() {
		out = append(out, neighbourhoodView{ID: id, Name: grid.Name(id)})
	}
	return out
}

// neighbourhood resolves what a resident typed — a neighbourhood's id or its name, in any
// case and with or without accents (geo.Map.Lookup) — to the id, or says which there are.
func neighbourhood(grid *geo.Map, text string) (string, error) {
	if id, ok := grid.Lookup(text); ok {
		return id, nil
	}
	var choices []string
	for _, v := range neighbourhoodViews(grid) {
		choices = append(choices, fmt.Sprintf("%s (%s)", v.ID, v.Name))
	}
	return "", fmt.Errorf("no neighbourhood is called %q: give one of these ids or names: %s", text, strings.Join(choices, ", "))
}
