package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/commons-city/commons/crypto"
)

// passphraseEnv names the environment variable that holds a protected wallet's passphrase.
const passphraseEnv = "COMMONS_WALLET_PASSPHRASE"

// errNeedPassphrase is the answer when a protected wallet is loaded without a passphrase.
var errNeedPassphrase = errors.New("this wallet is protected by a passphrase: set " + passphraseEnv + " or --passphrase-file")

// passphrase returns the wallet passphrase from --passphrase-file, then COMMONS_WALLET_PASSPHRASE,
// and "" if neither is given. A passphrase file's trailing newline is not part of it.
func (g *global) passphrase() (string, error) {
	if g.passphraseFile != "" {
		b, err := os.ReadFile(g.passphraseFile)
		if err != nil {
			return "", fmt.Errorf("--passphrase-file: %w", err)
		}
		p := strings.TrimRight(string(b), "\r\n")
		if p == "" {
			return "", errors.New("--passphrase-file: the file is empty")
		}
		return p, nil
	}
	return os.Getenv(passphraseEnv), nil
}

// stdinIsTerminal reports whether a passphrase can be asked for without echo.
func stdinIsTerminal() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

// askPassphrase reads a passphrase from the terminal without echo; with confirm, twice.
func askPassphrase(confirm bool) (string, error) {
	fd := int(os.Stdin.Fd())
	fmt.Fprint(os.Stderr, "wallet passphrase: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return "", errors.New("an empty passphrase protects nothing")
	}
	if confirm {
		fmt.Fprint(os.Stderr, "again, to confirm: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", fmt.Errorf("read passphrase: %w", err)
		}
		if string(again) != string(p) {
			return "", errors.New("the two passphrases differ; nothing was written")
		}
	}
	return string(p), nil
}

// newPassphrase is the passphrase for `wallet init --passphrase`: from --passphrase-file or
// the environment, else asked on the terminal.
func (g *global) newPassphrase() (string, error) {
	p, err := g.passphrase()
	if err != nil || p != "" {
		return p, err
	}
	if !stdinIsTerminal() {
		return "", errors.New("wallet init --passphrase: no terminal to ask on: set " + passphraseEnv + " or --passphrase-file")
	}
	return askPassphrase(true)
}

// loadWallet loads the wallet, plain or protected. A protected wallet's passphrase comes from
// --passphrase-file or the environment, else from the terminal if there is one.
func (g *global) loadWallet() (*crypto.Wallet, error) {
	p, err := g.passphrase()
	if err != nil {
		return nil, err
	}
	w, err := crypto.LoadWalletWithPassphrase(g.wallet, p)
	if errors.Is(err, crypto.ErrPassphraseRequired) {
		if !stdinIsTerminal() {
			return nil, errNeedPassphrase
		}
		if p, err = askPassphrase(false); err != nil {
			return nil, err
		}
		w, err = crypto.LoadWalletWithPassphrase(g.wallet, p)
	}
	if errors.Is(err, crypto.ErrWrongPassphrase) {
		return nil, fmt.Errorf("%s: the passphrase does not open this wallet", g.wallet)
	}
	return w, err
}
