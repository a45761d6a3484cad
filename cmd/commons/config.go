package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/commons-city/commons/server"
	"github.com/commons-city/commons/witness"
)

// serveConfig is the node's configuration: one field per option. Every option has one name,
// used as the long flag (--release-every 5m), as the key in the config file
// (release-every = 5m) and, upper-cased with dashes as underscores, as the environment
// variable (COMMONS_RELEASE_EVERY=5m). From lowest to highest precedence: the default, the
// file named by --config (or $COMMONS_CONFIG), the environment, the flags. No option holds a
// secret: the node's secrets are files under Data (keys.go).
type serveConfig struct {
	Data         string        // data directory: FORMAT, Badger, keys/, admin.token
	Addr         string        // listen address, HOST:PORT
	MetricsAddr  string        // listen address of /metrics, HOST:PORT ("" serves no metrics)
	Demo         bool          // load the demo city into an empty node
	Origin       string        // ledger origin, used when the ledger key is first created
	Grid         string        // GeoJSON file of neighbourhoods ("" = the demo city's)
	ReleaseEvery time.Duration // how often closed epochs are released
	// SignatureBatchEvery and SignatureBatchMin: petition signatures are appended in shuffled
	// batches once this long has passed since the last and this many are pending.
	SignatureBatchEvery time.Duration
	SignatureBatchMin   int
	BodyLimit           int           // request body limit in bytes
	StatementSkew       time.Duration // how far issued_at may be from the clock
	Fsck                bool          // re-hash the whole ledger before serving
	RateLimit           int           // POST requests per minute per client IP (0: no limit)
	CitizenLimit        int           // signed writes per minute per resident (0: no limit)
	ShareDays           int           // how many days back a share copy may be for
	EnvelopeQuota       int           // MiB of sealed envelopes stored per resident
	MaxConnections      int           // concurrent connections (fiber's Concurrency)
	ProxyHeader         string        // header holding the client IP, set by a trusted reverse proxy
	TrustedProxies      []string      // addresses or CIDR ranges whose ProxyHeader is believed
	ShutdownDelay       time.Duration // time between /readyz turning 503 and the listener closing
	LogLevel            slog.Level    // the least level logged: debug adds one line per request
	MemoryLimit         int           // soft limit of the Go heap in MiB (0: none; GOMEMLIMIT wins)
	Witnesses           []string      // witnesses that cosign the ledger's checkpoints, each URL=VKEY
	WitnessEvery        time.Duration // how often a grown checkpoint is submitted to the witnesses
	PublicURL           string        // the node's public address, base of its ActivityPub ids
	FediverseRate       int           // ActivityPub deliveries per second

	// Now is the node's clock, nil for time.Now. It is no option: tests that run a node in
	// their own process move it.
	Now func() time.Time
	// beforeDemo, when set, runs once the node listens and before it loads the demo city. It
	// is no option: a test holds the node there to see /readyz refuse while the city is missing.
	beforeDemo func()
}

// clock is the node's clock: cfg.Now, or time.Now.
func (cfg serveConfig) clock() func() time.Time {
	if cfg.Now == nil {
		return time.Now
	}
	return cfg.Now
}

// commandLineOnly are the flags that are not options: they have no file key, and only
// --config has an environment variable (COMMONS_CONFIG).
var commandLineOnly = map[string]bool{"config": true, "check-config": true}

// envName is the environment variable of an option: addr → COMMONS_ADDR.
func envName(option string) string {
	return "COMMONS_" + strings.ToUpper(strings.ReplaceAll(option, "-", "_"))
}

// serveFlags declares every option of cfg on a flag set, with cfg's values as defaults
// (defaultServeConfig) and each option's check. The usage strings are what `commons serve -h`
// prints.
func serveFlags(cfg *serveConfig, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.Data, "data", cfg.Data, "data `directory` (created if missing): FORMAT, Badger database, keys/, admin.token")
	fs.Var(addrValue{&cfg.Addr}, "addr", "listen `HOST:PORT` (port 0 picks a free port)")
	fs.Var(optionalAddrValue{&cfg.MetricsAddr}, "metrics-addr", "listen `HOST:PORT` of /metrics, apart from the public address (port 0 picks a free port; empty: no metrics)")
	fs.BoolVar(&cfg.Demo, "demo", cfg.Demo, "load the demo city (fixtures) into an empty data directory")
	fs.StringVar(&cfg.Origin, "origin", cfg.Origin, "ledger `origin`, fixed when the ledger key is created on first start")
	fs.StringVar(&cfg.Grid, "neighbourhoods", cfg.Grid, "GeoJSON `file` of the public grid's neighbourhoods (default: the demo city's)")
	fs.Var(durationValue{&cfg.ReleaseEvery, true}, "release-every", "publish releases of closed days every `duration`")
	fs.Var(durationValue{&cfg.SignatureBatchEvery, false}, "signature-batch-every", "append petition signatures to the ledger in shuffled batches at most every `duration` (0 with signature-batch-min 1: each at once)")
	fs.Var(intValue{&cfg.SignatureBatchMin, 1}, "signature-batch-min", "a signature batch waits for at least this many `signatures` (those of a closed petition go at the next batch whatever their number)")
	fs.Var(intValue{&cfg.BodyLimit, 1}, "body-limit", "largest request body in `bytes`")
	fs.Var(durationValue{&cfg.StatementSkew, true}, "statement-skew", "largest accepted `duration` between a statement's issued_at and the clock")
	fs.BoolVar(&cfg.Fsck, "fsck", cfg.Fsck, "before serving, re-hash every ledger entry and tree node and refuse to start on any mismatch")
	fs.Var(intValue{&cfg.RateLimit, 0}, "rate-limit", "most POST `requests` per minute from one client IP, answered 429 beyond (0: no limit; the admin token is never limited)")
	fs.Var(intValue{&cfg.CitizenLimit, 0}, "citizen-rate-limit", "most signed writes (statements, contributions, vault exports) per `minute` from one resident, in bursts of up to five minutes' worth, answered 429 beyond (0: no limit)")
	fs.Var(intValue{&cfg.ShareDays, 1}, "share-days", "accept share copies for at most this many `days` before today (UTC); older days go to the resident's vault only")
	fs.Var(intValue{&cfg.EnvelopeQuota, 1}, "envelope-quota", "most sealed envelopes (vault and share copies) stored for one resident, in `MiB`; an upload beyond is refused")
	fs.Var(intValue{&cfg.MaxConnections, 1}, "max-connections", "most concurrent `connections`; one more gets a JSON 503 and is closed")
	fs.StringVar(&cfg.ProxyHeader, "proxy-header", cfg.ProxyHeader, "`header` in which a trusted reverse proxy passes the client IP, e.g. X-Real-IP (default: the connection's peer)")
	fs.Var(witnessesValue(&cfg.Witnesses), "witnesses", "comma-separated `URL=KEY` of the witnesses that cosign the ledger's checkpoints (C2SP tlog-witness; KEY is the witness's verifier key)")
	fs.Var(durationValue{&cfg.WitnessEvery, true}, "witness-every", "submit a grown checkpoint to the witnesses at most every `duration`")
	fs.Var(proxiesValue(&cfg.TrustedProxies), "trusted-proxies", "comma-separated `addresses` or CIDR ranges whose proxy-header is believed")
	fs.Var(durationValue{&cfg.ShutdownDelay, false}, "shutdown-delay", "on SIGTERM, answer /readyz 503 for this `duration` before closing the listener, so a load balancer can drain")
	fs.Var(intValue{&cfg.MemoryLimit, 0}, "memory-limit", "soft limit of the server's memory in `MiB`: the garbage collector works harder near it (0: none; a GOMEMLIMIT in the environment takes precedence)")
	fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "the node's public `URL` (https://host[:port]): its ActivityPub actors are @<neighbourhood>@host and @city@host (default: http:// and the listen address, for a node tried on one machine)")
	fs.Var(intValue{&cfg.FediverseRate, 1}, "fediverse-rate", "most ActivityPub `deliveries` per second to followers' inboxes")
	fs.Var(levelValue{&cfg.LogLevel}, "log-level", "least `level` logged: debug, info, warn or error (debug logs one line per request)")
	fs.String("config", "", "read options from `FILE`: \"name = value\" lines, # comments")
	fs.Bool("check-config", false, "print the effective configuration and where each value came from, then exit")
	fs.Usage = func() { serveUsage(fs) }
	return fs
}

// defaultServeConfig holds the defaults of every option.
func defaultServeConfig() serveConfig {
	return serveConfig{
		Data:                "./data",
		Addr:                "127.0.0.1:8080",
		MetricsAddr:         defaultMetricsAddr,
		Origin:              "commons.localhost/ledger",
		ReleaseEvery:        time.Minute,
		SignatureBatchEvery: 10 * time.Minute,
		SignatureBatchMin:   10,
		BodyLimit:           4 << 20,
		StatementSkew:       10 * time.Minute,
		RateLimit:           600,
		CitizenLimit:        120,
		ShareDays:           server.DefaultShareDays,
		EnvelopeQuota:       int(server.DefaultEnvelopeQuota >> 20),
		MaxConnections:      256 * 1024,
		TrustedProxies:      []string{"127.0.0.1", "::1"},
		LogLevel:            slog.LevelInfo,
		MemoryLimit:         160,
		WitnessEvery:        10 * time.Second,
		FediverseRate:       5,
	}
}

// serveUsage is `commons serve -h`.
func serveUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `Usage: commons serve [options]

Runs a node. Each option is set, from lowest to highest precedence, by its default, a line
"name = value" in the file given by --config (or $COMMONS_CONFIG), the environment variable
COMMONS_NAME (upper case, dashes as underscores), and the flag --name. A bad value, an unknown
key in the file or a malformed line stops the node before it starts. Secrets are never options:
the ledger, purpose and petition tally keys and admin.token are files under --data.

Options:
`)
	printFlags(w, fs, func(f *flag.Flag) string {
		switch {
		case f.Name == "config":
			return "environment: " + envName(f.Name)
		case commandLineOnly[f.Name]:
			return "command line only"
		}
		return fmt.Sprintf("file key: %s, environment: %s", f.Name, envName(f.Name))
	})
}

// loadServeConfig reads the options from their four sources and returns the configuration,
// where each value came from (option → "default", "FILE:LINE", "$COMMONS_X" or "flag --x"), and
// whether --check-config was given. A bad value names its source.
func loadServeConfig(args []string, getenv func(string) (string, bool), out io.Writer) (serveConfig, map[string]string, bool, error) {
	// A first pass over the flags finds the config file; the last pass applies them on top.
	scratch, cfg := defaultServeConfig(), defaultServeConfig()
	pre := serveFlags(&scratch, io.Discard)
	fs := serveFlags(&cfg, io.Discard)
	if err := pre.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(out)
			fs.Usage()
		}
		return cfg, nil, false, err
	}
	sources := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { sources[f.Name] = "default" })
	set := func(name, value, source string) error {
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("%s: %s: %w", source, name, err)
		}
		sources[name] = source
		return nil
	}

	path := pre.Lookup("config").Value.String()
	if v, ok := getenv(envName("config")); ok && path == "" {
		path = v
	}
	if path != "" {
		lines, err := readConfigFile(path, fs)
		if err != nil {
			return cfg, nil, false, err
		}
		for _, l := range lines {
			if err := set(l.key, l.value, fmt.Sprintf("%s:%d", path, l.line)); err != nil {
				return cfg, nil, false, err
			}
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if commandLineOnly[f.Name] || envErr != nil {
			return
		}
		if v, ok := getenv(envName(f.Name)); ok && v != "" {
			envErr = set(f.Name, v, "$"+envName(f.Name))
		}
	})
	if envErr != nil {
		return cfg, nil, false, envErr
	}
	if err := fs.Parse(args); err != nil {
		return cfg, nil, false, err
	}
	pre.Visit(func(f *flag.Flag) { sources[f.Name] = "flag --" + f.Name }) // pre saw the flags only
	if fs.NArg() > 0 {
		return cfg, nil, false, fmt.Errorf("unexpected argument %q (options are --name value)", fs.Arg(0))
	}
	if cfg.Data == "" {
		return cfg, nil, false, fmt.Errorf("%s: data: must name a directory", sources["data"])
	}
	if cfg.ProxyHeader != "" && len(cfg.TrustedProxies) == 0 {
		return cfg, nil, false, fmt.Errorf("%s: proxy-header is set but trusted-proxies is empty: name the reverse proxy's address", sources["trusted-proxies"])
	}
	check := fs.Lookup("check-config").Value.String() == "true"
	return cfg, sources, check, nil
}

// configLine is one "key = value" line of a config file.
type configLine struct {
	line       int
	key, value string
}

// readConfigFile parses a config file: "key = value" lines, keys being the long flag names;
// blank lines and everything after a # are ignored. Unknown, repeated and command-line-only
// keys are errors, reported with the file and line.
func readConfigFile(path string, fs *flag.FlagSet) ([]configLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	var lines []configLine
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		where := fmt.Sprintf("%s:%d", path, n)
		switch {
		case !ok || key == "":
			return nil, fmt.Errorf("%s: want a line \"name = value\", got %q", where, text)
		case commandLineOnly[key]:
			return nil, fmt.Errorf("%s: %s can only be given on the command line", where, key)
		case fs.Lookup(key) == nil:
			return nil, fmt.Errorf("%s: unknown key %q (the keys are the long flag names: %s)", where, key, strings.Join(optionNames(fs), ", "))
		case seen[key] != 0:
			return nil, fmt.Errorf("%s: %s is already set on line %d", where, key, seen[key])
		}
		seen[key] = n
		lines = append(lines, configLine{line: n, key: key, value: value})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return lines, nil
}

// optionNames are the names of the options, sorted.
func optionNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if !commandLineOnly[f.Name] {
			names = append(names, f.Name)
		}
	})
	slices.Sort(names)
	return names
}

// configValues are the options of cfg as their file values, by name.
func configValues(cfg serveConfig) map[string]string {
	fs := serveFlags(&cfg, io.Discard)
	values := map[string]string{}
	for _, name := range optionNames(fs) {
		values[name] = fs.Lookup(name).Value.String()
	}
	return values
}

// printConfig writes the effective configuration as a config file, each line commented with
// where its value came from.
func printConfig(w io.Writer, cfg serveConfig, sources map[string]string) error {
	values := configValues(cfg)
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(values)) {
		fmt.Fprintf(&b, "%-16s = %-28s # %s\n", name, values[name], sources[name])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// The option values below check what they are given, so that a bad value is refused with the
// name of its option and its source, whichever source it came from. Their String methods
// accept a nil pointer, as the flag package asks.

// addrValue is a HOST:PORT listen address.
type addrValue struct{ p *string }

// String implements flag.Value.
func (a addrValue) String() string {
	if a.p == nil {
		return ""
	}
	return *a.p
}

// Set implements flag.Value, refusing a bad value.
func (a addrValue) Set(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT (for example 127.0.0.1:8080, or :8080 for every interface)", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: the port is not a number from 0 to 65535", s)
	}
	*a.p = s
	return nil
}

// optionalAddrValue is a HOST:PORT listen address, or "" for none.
type optionalAddrValue struct{ p *string }

// String implements flag.Value.
func (a optionalAddrValue) String() string { return addrValue(a).String() }

// Set implements flag.Value, refusing a bad value.
func (a optionalAddrValue) Set(s string) error {
	if s == "" {
		*a.p = s
		return nil
	}
	return addrValue(a).Set(s)
}

// durationValue is a duration, positive or at least not negative.
type durationValue struct {
	p        *time.Duration
	positive bool
}

// String implements flag.Value.
func (d durationValue) String() string {
	if d.p == nil {
		return ""
	}
	return d.p.String()
}

// Set implements flag.Value, refusing a bad value.
func (d durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 90s, 10m or 1h30m", s)
	}
	switch {
	case d.positive && v <= 0:
		return fmt.Errorf("%s: must be positive", s)
	case v < 0:
		return fmt.Errorf("%s: must not be negative", s)
	}
	*d.p = v
	return nil
}

// intValue is a whole number with a lower bound.
type intValue struct {
	p   *int
	min int
}

// String implements flag.Value.
func (n intValue) String() string {
	if n.p == nil {
		return ""
	}
	return strconv.Itoa(*n.p)
}

// Set implements flag.Value, refusing a bad value.
func (n intValue) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	if v < n.min {
		return fmt.Errorf("%d: must be at least %d", v, n.min)
	}
	*n.p = v
	return nil
}

// levelValue is a slog level by name.
type levelValue struct{ p *slog.Level }

// String implements flag.Value.
func (l levelValue) String() string {
	if l.p == nil {
		return ""
	}
	return strings.ToLower(l.p.String())
}

// Set implements flag.Value, refusing a bad value.
func (l levelValue) Set(s string) error {
	var v slog.Level
	if err := v.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("%q is not one of debug, info, warn, error", s)
	}
	*l.p = v
	return nil
}

// listValue is a comma-separated list whose every item check accepts.
type listValue struct {
	p     *[]string
	check func(string) error
}

// String implements flag.Value.
func (l listValue) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

// Set implements flag.Value, refusing a bad item.
func (l listValue) Set(s string) error {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if err := l.check(part); err != nil {
			return err
		}
		out = append(out, part)
	}
	*l.p = out
	return nil
}

// proxiesValue is a list of IP addresses and CIDR ranges.
func proxiesValue(p *[]string) listValue {
	return listValue{p, func(part string) error {
		if _, err := netip.ParsePrefix(part); err != nil {
			if _, err := netip.ParseAddr(part); err != nil {
				return fmt.Errorf("%q is not an IP address or a CIDR range", part)
			}
		}
		return nil
	}}
}

// witnessesValue is a list of witnesses, URL=VKEY, each checked by witness.ParseWitness.
func witnessesValue(p *[]string) listValue {
	return listValue{p, func(part string) error {
		_, err := witness.ParseWitness(part)
		return err
	}}
}
