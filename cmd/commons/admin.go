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
	"github.com/commons-city/commons/ledger/state"
)

func timeOr(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def.UTC().Truncate(time.Second), nil
	}
	return time.Parse(time.RFC3339, s)
}

func adminCmd(args []string) error {
	verb, rest, err := sub("admin", args, "invite", "release", "petition")
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("admin "+verb, flag.ContinueOnError)
	server := fs.String("server", envOr("COMMONS_SERVER", "http://127.0.0.1:8080"), "server `URL`")
	tokenFile := fs.String("admin-token-file", "", "`file` holding the admin token (default: $COMMONS_ADMIN_TOKEN)")
	count := fs.Int("count", 1, "with invite: how many one-time codes")
	var p state.Petition
	var scope, opens, closes string
	fs.StringVar(&p.ID, "id", "", "with petition: its `id` (lower-case letters, digits, dashes)")
	fs.StringVar(&p.Title, "title", "", "with petition: its title")
	fs.StringVar(&p.Text, "text", "", "with petition: its text (Markdown)")
	fs.StringVar(&scope, "scope", "", "with petition: comma-separated neighbourhood ids (empty: the whole city)")
	fs.StringVar(&opens, "opens", "", "with petition: opening time, RFC 3339 (default: now)")
	fs.StringVar(&closes, "closes", "", "with petition: closing time, RFC 3339 (default: in 30 days)")
	fs.IntVar(&p.Threshold, "threshold", 100, "with petition: signatures it aims for")
	if err := fs.Parse(rest); err != nil {
		return err
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
		n, more, err := c.RunReleases(ctx, token)
		if err != nil {
			return fmt.Errorf("admin release: %w", err)
		}
		fmt.Printf("published %d releases\n", n)
		if more {
			fmt.Println("more are due: they follow on the node's next release tick, or run this again")
		}
	case "petition":
		if p.Opens, err = timeOr(opens, time.Now()); err != nil {
			return fmt.Errorf("admin petition: --opens: %w", err)
		}
		if p.Closes, err = timeOr(closes, time.Now().AddDate(0, 0, 30)); err != nil {
			return fmt.Errorf("admin petition: --closes: %w", err)
		}
		if scope != "" {
			p.Scope = strings.Split(scope, ",")
		}
		a, err := c.CreatePetition(ctx, token, p)
		if err != nil {
			return fmt.Errorf("admin petition: %w", err)
		}
		return printJSON(a.Receipt)
	}
	return nil
}
