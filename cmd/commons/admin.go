package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/commons-city/commons/client"
)

func adminCmd(args []string) error {
	verb, rest, err := sub("admin", args, "invite", "release", "organiser")
	if err != nil {
		return err
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
	token := os.Getenv("COMMONS_ADMIN_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return errors.New("admin: no token: pass --admin-token-file DATA/admin.token or set COMMONS_ADMIN_TOKEN")
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
		n, err := c.RunReleases(ctx, token)
		if err != nil {
			return fmt.Errorf("admin release: %w", err)
		}
		fmt.Printf("published %d releases\n", n)
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
