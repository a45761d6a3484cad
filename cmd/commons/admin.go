package main

import (
	"fmt"
	"io"
	"time"

	"github.com/commons-city/commons/client"
)

func adminCmd(args []string) error {
	verb, rest, err := sub("admin", args, "invite", "release", "organiser", "petition", "purpose")
	if err != nil {
		return err
	}
	if verb == "purpose" {
		return adminPurpose(rest)
	}
	if verb == "petition" {
		return adminPetition(rest)
	}
	name, role := "admin "+verb, ""
	if verb == "organiser" {
		if role, rest, err = sub("admin organiser", rest, "grant", "revoke"); err != nil {
			return err
		}
		name += " " + role
	}
	fs, g := clientFlags(name)
	g.jsonFlag(fs)
	g.adminFlag(fs)
	var count *int
	least, most, what := 0, 0, ""
	switch verb {
	case "invite":
		count = fs.Int("count", 1, "how many one-time codes")
	case "organiser":
		least, most, what = 1, 1, "the citizen id (`commons wallet show` prints it)"
	}
	pos, err := parseArgs(fs, rest, least, most, what)
	if err != nil {
		return err
	}
	token, err := g.adminToken()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	s := g.connect(10 * time.Minute)
	defer s.close()
	switch verb {
	case "invite":
		codes, err := s.c.Invites(s.ctx, token, *count)
		if err != nil {
			return fmt.Errorf("admin invite: %w", err)
		}
		return g.show(codes, func(w io.Writer) {
			for _, code := range codes {
				fmt.Fprintln(w, code)
			}
		})
	case "release":
		n, more, err := s.c.RunReleases(s.ctx, token)
		if err != nil {
			return fmt.Errorf("admin release: %w", err)
		}
		return g.show(map[string]any{"published": n, "more_due": more}, func(w io.Writer) {
			fmt.Fprintf(w, "published %s\n", plural(n, "release"))
			if more {
				fmt.Fprintln(w, "more are due: they follow on the node's next release tick, or run this again")
			}
		})
	}
	grant := s.c.GrantOrganiser
	if role == "revoke" {
		grant = s.c.RevokeOrganiser
	}
	a, err := grant(s.ctx, token, pos[0])
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	done := map[string]string{"grant": "organiser role granted to ", "revoke": "organiser role revoked from "}[role]
	return g.showReceipt(done+pos[0], a.Receipt)
}

// adminPetition is `commons admin petition`: the operator creates a petition in their own
// name. Petitions are signed by an organiser, so the operator's wallet is made one first (a
// logged grant, like any other) and the petition is then created exactly as `commons
// petition create` does.
func adminPetition(args []string) error {
	fs, g := clientFlags("admin petition")
	g.jsonFlag(fs)
	g.adminFlag(fs)
	var f petitionFlags
	f.register(fs, "create")
	if _, err := parseArgs(fs, args, 0, 0, ""); err != nil {
		return err
	}
	token, err := g.adminToken()
	if err != nil {
		return fmt.Errorf("admin petition: %w", err)
	}
	s, err := g.open(10 * time.Minute)
	if err != nil {
		return err
	}
	defer s.close()
	if _, err := s.c.GrantOrganiser(s.ctx, token, s.w.CitizenID()); err != nil && !client.IsCode(err, "already_organiser") {
		return fmt.Errorf("admin petition: %w", err)
	}
	return petitionCreate(s, f)
}
