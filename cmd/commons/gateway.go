package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/client/gateway"
)

// maxBatch bounds --batch: one batch stays within a day or two of readings.
const maxBatch = 24 * time.Hour

func gatewayCmd(args []string) error {
	fs, g := clientFlags("gateway")
	listen := fs.String("listen", "", "`HOST:PORT` to accept sensor posts on, on your local network (port 0 picks a free port)")
	location := fs.String("location", "", "the sensors' `LAT,LON` in decimal degrees; used once, on this machine, to find their neighbourhood")
	every := fs.Duration("batch", 5*time.Minute, "how often to seal and upload what arrived")
	outbox := fs.String("outbox", "", "outbox `directory` (default: gateway-outbox beside the wallet)")
	auth := fs.String("basic-auth", envOr("COMMONS_GATEWAY_BASIC_AUTH", ""), "require HTTP Basic `USER:PASS` on every request")
	if _, err := parseArgs(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *listen == "" || *location == "" {
		return usagef("gateway: --listen and --location are required")
	}
	if *every <= 0 || *every > maxBatch {
		return usagef("gateway: --batch must be positive and at most %s", maxBatch)
	}
	lat, lon, err := parseLocation(*location)
	if err != nil {
		return err
	}
	w, err := g.existingWallet()
	if err != nil {
		return err
	}
	c := client.New(g.server)
	if *outbox == "" {
		*outbox = filepath.Join(filepath.Dir(g.wallet), "gateway-outbox")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cell, err := locate(ctx, c, lat, lon, logger)
	if err != nil {
		return err
	}
	gw, err := gateway.Open(gateway.Config{
		Outbox: *outbox, Cell: cell, Wallet: w, Client: c, BasicAuth: *auth, Logger: logger,
		Purposes: func(ctx context.Context) ([]client.Purpose, error) {
			return consentedPurposes(ctx, c, g.wallet)
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	fmt.Fprintf(os.Stderr, "commons: gateway listening on http://%s/ — readings go to neighbourhood %s, uploaded every %s\n",
		ln.Addr(), cell, *every)
	return gw.Run(ctx, ln, *every)
}

// parseLocation reads "LAT,LON". Its errors never repeat the input: it is a precise location.
func parseLocation(s string) (lat, lon float64, err error) {
	a, b, ok := strings.Cut(s, ",")
	bad := errors.New("gateway: --location must be LAT,LON in decimal degrees, e.g. 41.39,2.19")
	if !ok {
		return 0, 0, bad
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(lon) || math.Abs(lat) > 90 || math.Abs(lon) > 180 {
		return 0, 0, bad
	}
	return lat, lon, nil
}

// locate maps the location to a neighbourhood with the server's published polygons, once.
// While the server cannot be reached it retries, backing off up to a minute.
func locate(ctx context.Context, c *client.Client, lat, lon float64, logger *slog.Logger) (string, error) {
	for delay := time.Second; ; delay = min(2*delay, time.Minute) {
		grid, err := c.Neighbourhoods(ctx)
		if err == nil {
			cell, ok := grid.Locate(lat, lon)
			if !ok {
				return "", errors.New("gateway: --location is outside every neighbourhood of this server's grid")
			}
			return cell, nil
		}
		logger.Warn("gateway: cannot fetch the neighbourhoods yet; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("gateway: %w", ctx.Err())
		case <-time.After(delay):
		}
	}
}
