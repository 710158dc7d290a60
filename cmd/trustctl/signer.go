package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/pkcs11"
)

// pkcs11Flags are the flags of a signing command for keys on PKCS#11
// tokens (HSMs, YubiKeys, SoftHSM2), named by RFC 7512 URIs in place of a
// key file.
type pkcs11Flags struct {
	pinEnv string // environment variable holding the user PIN
	module string // module for URIs that name none
}

func (p *pkcs11Flags) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.pinEnv, "pin-env", "", "environment variable holding the PKCS#11 token's user PIN (else the URI's pin-source=FILE, else a prompt)")
	cmd.Flags().StringVar(&p.module, "pkcs11-module", "", "PKCS#11 module (.so) for pkcs11: URIs that give no module-path")
}

// open logs in to the token a pkcs11: URI names and returns its key as a
// signer. The PIN comes from the URI (pin-source, or pin-value), else from
// --pin-env, else from a prompt on the terminal.
func (p *pkcs11Flags) open(flag, uri string) (envelope.Signer, envelope.PublicKey, error) {
	ref, err := pkcs11.ParseURI(uri, p.module)
	if err != nil {
		return nil, envelope.PublicKey{}, fmt.Errorf("%s: %w", flag, err)
	}
	pin := ref.PIN
	switch {
	case ref.HasPIN:
	case p.pinEnv != "":
		v, ok := os.LookupEnv(p.pinEnv)
		if !ok {
			return nil, envelope.PublicKey{}, fmt.Errorf("--pin-env: %s is not set", p.pinEnv)
		}
		pin = v
	case term.IsTerminal(int(os.Stdin.Fd())):
		fmt.Fprintf(os.Stderr, "PIN for %s: ", ref)
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, envelope.PublicKey{}, fmt.Errorf("%s: read PIN: %w", flag, err)
		}
		pin = string(b)
	}
	key, err := pkcs11.Open(ref, pin)
	if err != nil {
		return nil, envelope.PublicKey{}, fmt.Errorf("%s: %w", flag, err)
	}
	s, pub, err := envelope.NewCryptoSigner(key)
	if err != nil {
		_ = key.Close()
		return nil, envelope.PublicKey{}, fmt.Errorf("%s %s: %w", flag, ref, err)
	}
	return s, pub, nil
}
