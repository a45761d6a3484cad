// Command commons is both the Commons server and the resident's client.
//
//	commons serve --data DIR --addr HOST:PORT [--demo] [--config FILE]
//	commons backup --out FILE
//	commons restore --in FILE --data DIR
//	commons wallet init|show
//	commons admin invite --count N
//	commons register --invite CODE --neighbourhood ID|NAME
//	commons neighbourhoods
//	commons consent grant|revoke|list --purpose ID [--erase]
//	commons contribute FILE...
//	commons gateway --listen HOST:PORT --location LAT,LON [--batch 5m] [--outbox DIR]
//	commons petition sign|withdraw|list|verify [ID]
//	commons petition create|paper|result … (organisers)
//	commons admin organiser grant|revoke CITIZEN_ID
//	commons admin petition --title T --text-file F [...]
//	commons export --out DIR [--decrypt]
//	commons status [--outbox DIR]
//	commons ledger verify [--state FILE] [--all]
//	commons mirror --from URL --data DIR --addr HOST:PORT [--key KEY] [--every D]
//
// Flags may come before or after a command's arguments. Run `commons COMMAND -h` for the
// flags of each command.
package main

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
)

const usage = `commons — a civic data commons: server and resident's client.

Server:
  commons serve --data DIR --addr HOST:PORT [--demo] [--config FILE]   (commons serve -h: every option)
  commons backup --out FILE            online backup of a running node's database (not its keys)
  commons restore --in FILE --data DIR load a backup into a new, empty data directory
  commons mirror --from URL --data DIR --addr HOST:PORT [--key KEY] [--every 1m]
                                       serve a verified read-only copy of another node's ledger and releases

Resident:
  commons wallet init [--out FILE] [--passphrase]
                                       create a wallet (a standard age identity), optionally
                                       encrypted with a passphrase
  commons wallet show                  print the citizen id and public keys
  commons neighbourhoods               the server's neighbourhoods: id and name
  commons register --invite CODE --neighbourhood ID|NAME
  commons consent grant|revoke --purpose ID [--erase]
  commons consent list                 purposes, your consents and their receipts
  commons contribute FILE...           seal and upload readings (CSV, archive CSV, JSON)
  commons gateway --listen HOST:PORT --location LAT,LON [--batch 5m] [--outbox DIR] [--basic-auth USER:PASS]
                                       accept your sensors' posts (Sensor.Community firmware) and forward them
  commons petition list | sign ID [--age-band B] [--neighbourhood N] | withdraw ID
  commons petition verify ID | --result FILE   recount a petition, or check a signed result, from the ledger
  commons purpose list | show ID       the purposes: who asks, what for, at what privacy cost, their status
  commons purpose approve ID | object ID   your neighbourhood's say on a proposed purpose (changeable while open)
  commons purpose verify ID            recount a purpose's approvals and objections from the ledger
  commons export --out DIR [--decrypt] your vault as .age files (age -d -i WALLET opens them)
  commons status [--outbox DIR]        your consents, what the server holds for you, your gateway's outbox

Operator (admin token from --admin-token-file FILE or COMMONS_ADMIN_TOKEN):
  commons admin invite --count N
  commons admin release                publish every closed day now
  commons admin organiser grant|revoke CITIZEN_ID   the organiser role, logged
  commons admin petition --title T --text-file F ...  create a petition as the operator (your wallet becomes an organiser)
  commons admin purpose activate ID | refuse ID --reason R | retire ID --reason R
                                       countersign an approved purpose, refuse it, or end it (logged)

Organiser (a resident the operator granted the role, with their own wallet):
  commons petition create --title T --text-file F.md [--id ID] [--scope A,B|city] [--opens T] [--closes T]
                          [--threshold N] [--ask age_band,neighbourhood]
  commons petition paper ID --count N [--note T]     paper signatures, logged and shown apart
  commons petition result ID --out FILE              the signed final result, once closed
  commons purpose propose --file P.json              a new use of residents' data, signed, for their approval
  commons purpose retire ID                          end a purpose you proposed (logged)

Auditor:
  commons ledger verify [--state FILE] [--all]

Flags go before or after a command's arguments. These may also come before the command
(commons --server URL admin invite); every command but serve and restore takes the first
three, and --json is taken by the commands that print a result:
  --server URL             the node (default http://127.0.0.1:8080)
  --wallet FILE            your wallet (default $XDG_CONFIG_HOME/commons/wallet, or ~/.config/commons/wallet)
  --passphrase-file FILE   the passphrase of a protected wallet
  --json                   print the result as JSON instead of text

Output: commands print plain text for people, on a terminal and when piped alike; with --json
they print JSON instead, the same everywhere, for scripts. Errors go to stderr.
Exit status: 0 done (or help shown), 1 failed, 2 the command line was wrong (nothing was done).

Environment:
  COMMONS_SERVER             the node, when --server is not given
  COMMONS_WALLET             the wallet file, when --wallet is not given
  XDG_CONFIG_HOME            where the default wallet lives (XDG_CONFIG_HOME/commons/wallet)
  COMMONS_WALLET_PASSPHRASE  a protected wallet's passphrase, when --passphrase-file is not given
  COMMONS_ADMIN_TOKEN        the operator's admin token, when --admin-token-file is not given
  COMMONS_GATEWAY_BASIC_AUTH the gateway's USER:PASS, when --basic-auth is not given
  COMMONS_CONFIG, COMMONS_<OPTION>  commons serve's options (commons serve -h lists them all);
                             GOMEMLIMIT, if set, overrides serve's --memory-limit

commons help COMMAND (or commons COMMAND -h) describes a command and its flags.
`

// commands are the top-level commands, by name.
var commands = map[string]func([]string) error{
	"serve":          serve,
	"backup":         backupCmd,
	"restore":        restoreCmd,
	"wallet":         walletCmd,
	"admin":          adminCmd,
	"register":       registerCmd,
	"neighbourhoods": neighbourhoodsCmd,
	"consent":        consentCmd,
	"contribute":     contributeCmd,
	"gateway":        gatewayCmd,
	"export":         exportCmd,
	"status":         statusCmd,
	"petition":       petitionCmd,
	"purpose":        purposeCmd,
	"ledger":         ledgerCmd,
	"mirror":         mirrorCmd,
}

func main() {
	os.Exit(exitStatus(run(os.Args[1:]), os.Stderr))
}

// run runs one command line. Help asked for goes to stdout; a bare `commons` prints it on
// stderr, as a usage error.
func run(args []string) error {
	args, err := hoistGlobals(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Print(usage)
		}
		return err
	}
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return &usageError{}
	}
	cmd, rest := args[0], args[1:]
	if cmd == "help" {
		if len(rest) == 0 || isHelp(rest[0]) {
			fmt.Print(usage)
			return nil
		}
		cmd, rest = rest[0], append(rest[1:], "-h")
	}
	if do, ok := commands[cmd]; ok {
		return do(rest)
	}
	return unknown("", cmd, append(slices.Sorted(maps.Keys(commands)), "help"))
}
