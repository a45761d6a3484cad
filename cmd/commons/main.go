// Command commons is both the Commons server and the resident's client.
//
//	commons serve --data DIR --addr HOST:PORT [--demo] [--config FILE]
//	commons backup --out FILE
//	commons restore --in FILE --data DIR
//	commons wallet init|show
//	commons admin invite --count N
//	commons register --invite CODE --neighbourhood ID
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
// Run `commons COMMAND -h` for the flags of each command.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

const usage = `commons — a civic data commons: server and resident's client.

Server:
  commons serve --data DIR --addr HOST:PORT [--demo] [--config FILE]   (commons serve -h: every option)
  commons backup --out FILE            online backup of a running node's database (not its keys)
  commons restore --in FILE --data DIR load a backup into a new, empty data directory
  commons mirror --from URL --data DIR --addr HOST:PORT [--key KEY] [--every 1m]
                                       serve a verified read-only copy of another node's ledger and releases

Resident (global flags: --server URL, --wallet FILE, --passphrase-file FILE):
  commons wallet init [--out FILE] [--passphrase]
                                       create a wallet (a standard age identity), optionally
                                       encrypted with a passphrase (--passphrase-file FILE or
                                       COMMONS_WALLET_PASSPHRASE, which every command reads)
  commons wallet show                  print the citizen id and public keys
  commons register --invite CODE --neighbourhood ID
  commons consent grant|revoke --purpose ID [--erase]
  commons consent list                 purposes, your consents and their receipts
  commons contribute FILE...           seal and upload readings (CSV, archive CSV, JSON)
  commons gateway --listen HOST:PORT --location LAT,LON [--batch 5m] [--outbox DIR] [--basic-auth USER:PASS]
                                       accept your sensors' posts (Sensor.Community firmware) and forward them
  commons petition list | sign ID [--age-band B] [--neighbourhood N] | withdraw ID
  commons petition verify ID | --result FILE   recount a petition, or check a signed result, from the ledger
  commons export --out DIR [--decrypt] your vault as .age files (age -d -i WALLET opens them)
  commons status [--outbox DIR]        your consents, what the server holds for you, your gateway's outbox

Operator (admin token from --admin-token-file or COMMONS_ADMIN_TOKEN):
  commons admin invite --count N
  commons admin release                publish every closed day now
  commons admin organiser grant|revoke CITIZEN_ID   the organiser role, logged
  commons admin petition --title T --text-file F ...  create a petition as the operator (your wallet becomes an organiser)

Organiser (a resident the operator granted the role, with their own wallet):
  commons petition create --title T --text-file F.md [--id ID] [--scope A,B|city] [--opens T] [--closes T]
                          [--threshold N] [--ask age_band,neighbourhood]
  commons petition paper ID --count N [--note T]     paper signatures, logged and shown apart
  commons petition result ID --out FILE              the signed final result, once closed

Auditor:
  commons ledger verify [--state FILE] [--all]
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "commons:", err)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(rest)
	case "backup":
		return backupCmd(rest)
	case "restore":
		return restoreCmd(rest)
	case "wallet":
		return walletCmd(rest)
	case "admin":
		return adminCmd(rest)
	case "register":
		return registerCmd(rest)
	case "consent":
		return consentCmd(rest)
	case "contribute":
		return contributeCmd(rest)
	case "gateway":
		return gatewayCmd(rest)
	case "export":
		return exportCmd(rest)
	case "status":
		return statusCmd(rest)
	case "petition":
		return petitionCmd(rest)
	case "ledger":
		return ledgerCmd(rest)
	case "mirror":
		return mirrorCmd(rest)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// sub splits "verb rest" for commands with verbs (wallet init, consent grant, …).
func sub(cmd string, args []string, verbs ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, fmt.Errorf("%s: say one of %v", cmd, verbs)
	}
	for _, v := range verbs {
		if args[0] == v {
			return v, args[1:], nil
		}
	}
	return "", nil, fmt.Errorf("%s: unknown verb %q (one of %v)", cmd, args[0], verbs)
}
