package main

// helpText is what `commons NAME -h` says of each command: its synopsis (after "commons
// NAME"), then, after a newline, what it does. Its flags follow, listed from the flag set.
var helpText = map[string]string{
	"backup":  "--out FILE\nAsks the running node for an online backup of its database and writes it to FILE (mode 0600)\natomically, with FILE.sha256 beside it. " + keysWarning,
	"restore": "--in FILE --data DIR\nLoads a backup into a new, empty data directory. Copy the node's keys/ into it before serving.",
	"mirror":  "--from URL --data DIR [--addr HOST:PORT] [--key KEY] [--every D]\nKeeps a verified, read-only copy of another node's ledger and air releases, and serves it.\nA source that rewrites its history is caught: the evidence is kept and it is no longer followed.",

	"wallet init":    "[--out FILE] [--passphrase]\nCreates a wallet: a standard age identity, mode 0600, optionally encrypted with a passphrase.\nIt is the only key to your data: keep a backup.",
	"wallet show":    "\nPrints the wallet's citizen id and public keys.",
	"neighbourhoods": "\nLists the server's neighbourhoods, id and name, from its public map. register,\npetition sign --neighbourhood and petition create --scope take either.",
	"register":       "--invite CODE --neighbourhood ID|NAME\nRegisters your wallet in your neighbourhood with a one-time invite from the operator. The\nneighbourhood is its id or its name, in any case, with or without accents.",

	"consent grant":  "--purpose ID\nConsents to a purpose: your readings from now on are also sealed to it. Prints the ledger receipt.",
	"consent revoke": "--purpose ID [--erase]\nWithdraws a consent: unreleased share copies are deleted at once, later releases exclude you;\n--erase also deletes your vault copies.",
	"consent list":   "\nEvery purpose in plain words with your choice, and every receipt saved beside your wallet\nchecked again against the server's latest signed checkpoint.",
	"contribute":     "FILE|DIR...\nSeals readings (our CSV, Sensor.Community archive CSV, JSON; folders are searched) to your vault\nand to the purposes you consented to, and uploads them. Locations are mapped to neighbourhoods on\nthis machine and never sent. An interrupted import resumes where it stopped.",
	"gateway":        "--listen HOST:PORT --location LAT,LON [--batch 5m] [--outbox DIR] [--basic-auth USER:PASS]\nAccepts your sensors' posts (Sensor.Community firmware) on your network, and seals and uploads\nthem every --batch.",
	"export":         "--out DIR [--decrypt]\nWrites your vault as .age files that the standard `age -d -i WALLET` opens; with --decrypt, also\nyour readings as DIR/readings.json, in the format contribute takes.",
	"status":         "[--outbox DIR]\nYour consents (from your saved receipts), what the server holds for you, and your gateway's outbox.",

	"petition list":     "\nEvery petition with its online and paper counts, threshold, status and closing day.",
	"petition sync":     "\nAsks the node, as the registered resident you are, for your token for every open petition of\nyour neighbourhood (blind: the node never sees what it signs), and keeps them beside your wallet.\nSync on one network and sign later from another: the node cannot pair the two by address.",
	"petition sign":     "ID [--age-band B] [--neighbourhood N] [--wait D]\nSigns a petition with a key your wallet derives for it alone, spending the token kept by\npetition sync (synced now if there is none): the request names no one. The optional answers are sealed to the petition's own key. The\nsignature joins the next shuffled batch of the ledger; the command waits for its receipt.",
	"petition withdraw": "ID [--wait D]\nWithdraws your signature while the petition is open, proven with the petition's key.",
	"petition receipt":  "ID [--wait D]\nWaits for your latest signature or withdrawal on a petition to be in the ledger, and saves\nits receipt.",
	"petition verify":   "ID | --result FILE\nRecounts a petition from the ledger and compares it with what the server publishes, or checks a\nsigned result document against the ledger.",
	"petition create":   "--title T --text-file F.md [--id ID] [--scope A,B|city] [--opens T] [--closes T] [--threshold N] [--ask age_band,neighbourhood]\nCreates a petition, signed by your wallet (an organiser's).",
	"petition paper":    "ID --count N [--note T]\nEnters a count of paper signatures, logged and shown apart (organisers).",
	"petition result":   "ID --out FILE\nRecounts a closed petition and writes its final result, signed by your wallet (its organiser's).",

	"admin invite":           "[--count N]\nMakes one-time invite codes, one a line.",
	"admin release":          "\nPublishes every closed day now, rather than on the node's next release tick.",
	"admin organiser":        "grant|revoke CITIZEN_ID\nGives or takes back the organiser role.",
	"admin organiser grant":  "CITIZEN_ID\nGives a resident the organiser role (logged in the ledger).",
	"admin organiser revoke": "CITIZEN_ID\nTakes the organiser role back (logged in the ledger).",
	"admin petition":         "--title T --text-file F.md [petition create's flags]\nCreates a petition as the operator: your wallet is made an organiser first.",

	"ledger verify": "[--state FILE] [--all]\nChecks the server's signed checkpoint, and that the log extends the one seen last time;\nwith --all, re-hashes every entry.",
}
