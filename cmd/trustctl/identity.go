package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/identity"
)

func newIdentityCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "Bind a voter key to a Sigstore identity, for reputation --verified-only",
		Long: `reputation --verified-only counts only voters bound to a verified identity:
a registered key bound both ways to a Sigstore (OIDC) identity, or an
OpenPGP key certified (gpg --sign-key) by a root trustd was started with
(--identity-pgp-root).

A Sigstore binding is one in-toto statement signed twice: by the key
(identity bind) and keylessly by the identity, as a Sigstore bundle
submitted with 'trustctl attest put'. Neither signature binds alone. An
identity vouches for one key at a time: its newest binding.`,
	}
	cmd.AddCommand(newIdentityBindCmd(g))
	return cmd
}

func newIdentityBindCmd(g *globals) *cobra.Command {
	var (
		issuer, subject, statementOut, out string
		key                                signingKey
	)
	cmd := &cobra.Command{
		Use:   "bind --issuer URL --subject SAN --key KEY [--statement-out FILE]",
		Short: "Sign and submit the key's side of a Sigstore identity binding",
		Long: `bind builds the binding statement (predicate type
` + identity.BindingPredicateType + `: the key id
and the identity's OIDC issuer and certificate subject; subjects: the key,
sha256:KEYID, and the identity, sha256 of "sigstore:ISSUER#SUBJECT"), signs
it with the key and submits it.

--statement-out also writes the statement for the identity's side: sign
exactly that statement keylessly into a Sigstore bundle (DSSE, in-toto
payload) with a Sigstore client (sigstore-go's sign package, or
actions/attest in a GitHub workflow with the same subjects, predicate type
and predicate), then submit the bundle with 'trustctl attest put'.`,
		Example: `  trustctl identity bind --issuer https://accounts.google.com --subject me@example.com \
      --key me.pem --statement-out binding.intoto.json
  trustctl attest put binding.sigstore.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			signer, pub, err := key.load()
			if err != nil {
				return err
			}
			b := identity.Binding{KeyID: pub.ID, Issuer: issuer, Subject: subject}
			pred, err := json.Marshal(b)
			if err != nil {
				return err
			}
			if _, err := identity.ParseBinding(pred); err != nil {
				return err
			}
			stmt, err := identity.Statement(b)
			if err != nil {
				return err
			}
			if statementOut != "" {
				if err := os.WriteFile(statementOut, append(stmt, '\n'), 0o644); err != nil {
					return fmt.Errorf("--statement-out: %w", err)
				}
			}
			env, err := envelope.Sign(cmd.Context(), envelope.PayloadTypeInToto, stmt, signer)
			if err != nil {
				return err
			}
			raw, err := json.Marshal(env)
			if err != nil {
				return err
			}
			if out != "" {
				return os.WriteFile(out, append(raw, '\n'), 0o644)
			}
			return g.submit(cmd, raw)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&issuer, "issuer", "", "the identity's OIDC issuer URL, as in its Fulcio certificate")
	fl.StringVar(&subject, "subject", "", "the identity's certificate subject (SAN): an email, a workflow URI")
	fl.StringVar(&statementOut, "statement-out", "", "also write the binding statement here, for the identity to sign keylessly")
	fl.StringVar(&out, "out", "", "write the signed envelope here instead of submitting")
	key.flags(cmd)
	_ = cmd.MarkFlagRequired("issuer")
	_ = cmd.MarkFlagRequired("subject")
	return cmd
}
