package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/commons-city/commons/client"
)

func adminCmd(args []string) error {
	verb, rest, err := sub("admin", args, "invite", "release", "organiser", "petition")
	if err != nil {
		return err
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
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	server := fs.String("server", envOr("COMMONS_SERVER", "http://127.0.0.1:8080"), "server `URL`")
	tokenFile := fs.String("admin-token-file", "", "`file` holding the admin token (default: $COMMONS_ADMIN_TOKEN)")
	count := fs.Int("count", 1, "with invite: how many one-time codes")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if verb == "organiser" && fs.NArg() != 1 {
		return fmt.Errorf("%s: name the citizen id (`commons wallet show` prints it)", name)
	}
	token, err := adminToken(*tokenFile)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	c := client.New(*server)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	switch verb {
	case "invite":
		codes, err := c.Invites(ctx, token, *count)
		if err != nil {
			return fmt.Errorf("admin invite: %w", err)
		}
		for _, code := range codes {
			fmt.Println(code)
		}
	case "release":
		n, more, err := c.RunReleases(ctx, token)
		if err != nil {
			return fmt.Errorf("admin release: %w", err)
		}
		fmt.Printf("published %d releases\n", n)
		if more {
			fmt.Println("more are due: they follow on the node's next release tick, or run this again")
		}
	case "organiser":
		grant := c.GrantOrganiser
		if role == "revoke" {
			grant = c.RevokeOrganiser
		}
		a, err := grant(ctx, token, fs.Arg(0))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return printJSON(a.Receipt)
	}
	return nil
}

// adminPetition is `commons admin petition`: the operator creates a petition in their own
// name. Petitions are signed by an organiser, so the operator's wallet is made one first (a
// logged grant, like any other) and the petition is then created exactly as `commons
// petition create` does.
func adminPetition(args []string) error {
	fs, g := clientFlags("admin petition")
	tokenFile := fs.String("admin-token-file", "", "`file` holding the admin token (default: $COMMONS_ADMIN_TOKEN)")
	var f petitionFlags
	f.register(fs, "create")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token, err := adminToken(*tokenFile)
	if err != nil {
		return fmt.Errorf("admin petition: %w", err)
	}
	w, c, err := g.load()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := c.GrantOrganiser(ctx, token, w.CitizenID()); err != nil && !client.IsCode(err, "already_organiser") {
		return fmt.Errorf("admin petition: %w", err)
	}
	return petitionCreate(ctx, g, f)
}
