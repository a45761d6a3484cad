package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Exit statuses: 0 on success and for help asked with -h, --help or `commons help`.
const (
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // the command line is wrong: nothing was done
)

// usageError is a mistake in the command line (an unknown command or flag, a missing
// argument): the command did nothing, and commons exits with exitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef makes a usageError.
func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitStatus reports err on stderr and returns the process's exit status.
func exitStatus(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintln(stderr, "commons:", ue.msg)
		}
		return exitUsage
	default:
		fmt.Fprintln(stderr, "commons:", err)
		return exitFailure
	}
}

// globalFlags are the flags that may also come before the command: `commons --server URL
// admin invite` is `commons admin invite --server URL`.
var globalFlags = []string{"server", "wallet", "passphrase-file", "json"}

// hoistGlobals moves the global flags written before the command to after it, where every
// command parses them with its own, and returns the command line without them.
func hoistGlobals(args []string) ([]string, error) {
	fs := flag.NewFlagSet("commons", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, name := range globalFlags {
		if name == "json" {
			fs.Bool(name, false, "")
		} else {
			fs.String(name, "", "")
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v: before the command only %s may come (commons help lists them)", err, flagList(globalFlags))
	}
	rest := fs.Args()
	if len(rest) == 0 {
		if len(args) > 0 {
			return nil, usagef("name a command after the flags (commons help lists them)")
		}
		return nil, nil
	}
	// The command words stay first: the flags go to the end, where every command takes them.
	out := slices.Clone(rest)
	fs.Visit(func(f *flag.Flag) { out = append(out, "--"+f.Name+"="+f.Value.String()) })
	return out, nil
}

// flagList writes flag names as "--a, --b or --c".
func flagList(names []string) string {
	var b strings.Builder
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString("--" + n)
	}
	return b.String()
}

// newFlagSet is the flag set of one command ("consent grant"): -h prints helpText[name]
// and the flags on stdout.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		synopsis, about, _ := strings.Cut(helpText[name], "\n")
		w := fs.Output()
		fmt.Fprintln(w, strings.TrimSpace("Usage: commons "+name+" "+synopsis))
		if about != "" {
			fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(about))
		}
		fmt.Fprint(w, "\nFlags (before or after the arguments):\n")
		printFlags(w, fs, func(f *flag.Flag) string { return envNote[f.Name] })
	}
	return fs
}

// envNote names the environment variable a client flag falls back on.
var envNote = map[string]string{
	"server":           "environment: COMMONS_SERVER",
	"wallet":           "environment: COMMONS_WALLET",
	"passphrase-file":  "or the passphrase itself in COMMONS_WALLET_PASSPHRASE",
	"admin-token-file": "or the token itself in COMMONS_ADMIN_TOKEN",
	"basic-auth":       "environment: COMMONS_GATEWAY_BASIC_AUTH",
}

// printFlags lists a flag set's flags as `commons serve -h` and every command's -h show them:
// "--name VALUE", its usage and default, and the note for it (if any) on a line of its own.
func printFlags(w io.Writer, fs *flag.FlagSet, note func(*flag.Flag) string) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "\n    \t%s", usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		if n := note(f); n != "" {
			fmt.Fprintf(w, "\n    \t%s", n)
		}
		fmt.Fprintln(w)
	})
}

// parseFlags parses a command's flags, which may come before, between or after its
// positional arguments ("--" ends the flags), and returns the positional arguments. -h or
// --help prints the command's help on stdout and returns flag.ErrHelp; a bad flag is a
// usageError.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fs.Usage()
			return nil, err
		}
		if err != nil {
			return nil, usagef("%s: %v (commons %s -h lists its flags)", fs.Name(), err, fs.Name())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseArgs is parseFlags for a command that takes from least to most positional arguments
// (most < 0: no limit); what names them in the error.
func parseArgs(fs *flag.FlagSet, args []string, least, most int, what string) ([]string, error) {
	pos, err := parseFlags(fs, args)
	switch {
	case err != nil:
		return nil, err
	case len(pos) < least:
		return nil, usagef("%s: name %s (commons %s -h)", fs.Name(), what, fs.Name())
	case most == 0 && len(pos) > 0:
		return nil, usagef("%s: unexpected argument %q: it takes flags only (commons %s -h)", fs.Name(), pos[0], fs.Name())
	case most > 0 && len(pos) > most:
		return nil, usagef("%s: unexpected argument %q after %s (commons %s -h)", fs.Name(), pos[most], what, fs.Name())
	}
	return pos, nil
}

// sub splits "verb rest" for commands with verbs (wallet init, consent grant, …). -h after
// the command lists its verbs; a misspelt verb gets the closest one suggested.
func sub(cmd string, args []string, verbs ...string) (string, []string, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !isHelp(args[0]) {
		return "", nil, usagef("%s: say one of %s (commons %s -h)", cmd, strings.Join(verbs, ", "), cmd)
	}
	if isHelp(args[0]) {
		fmt.Printf("Usage:\n")
		for _, v := range verbs {
			synopsis, _, _ := strings.Cut(helpText[cmd+" "+v], "\n")
			fmt.Println(strings.TrimRight(fmt.Sprintf("  commons %s %s %s", cmd, v, synopsis), " "))
		}
		fmt.Printf("\ncommons %s VERB -h describes one.\n", cmd)
		return "", nil, flag.ErrHelp
	}
	if slices.Contains(verbs, args[0]) {
		return args[0], args[1:], nil
	}
	return "", nil, unknown(cmd, args[0], verbs)
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// unknown refuses a word that is no command (cmd "") or no verb of cmd, suggesting the
// closest if one is near.
func unknown(cmd, word string, choices []string) error {
	what, list := "unknown command", "commons help lists the commands"
	if cmd != "" {
		what, list = cmd+": unknown verb", "commons "+cmd+" -h lists them"
	}
	if best := closest(word, choices); best != "" {
		return usagef("%s %q: did you mean %s? (%s)", what, word, best, list)
	}
	return usagef("%s %q (%s)", what, word, list)
}

// closest is the choice nearest to word by edit distance, if it is at most a third of the
// word's length (and at least one edit); "" if none is that near or two are equally near.
func closest(word string, choices []string) string {
	best, bestD, tie := "", max(1, len([]rune(word))/3)+1, false
	for _, c := range choices {
		switch d := editDistance(word, c); {
		case d < bestD:
			best, bestD, tie = c, d, false
		case d == bestD:
			tie = true
		}
	}
	if tie {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, counting an exchange of two
// neighbouring letters as one edit.
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}

// plural writes "1 signature", "2 signatures"; an irregular plural is given as the third
// argument ("copy", "copies").
func plural(n int, one string, many ...string) string {
	switch {
	case n == 1:
		return "1 " + one
	case len(many) > 0:
		return fmt.Sprintf("%d %s", n, many[0])
	default:
		return fmt.Sprintf("%d %ss", n, one)
	}
}
