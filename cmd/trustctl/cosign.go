package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/revocation"
)

func newStatementCosignCmd(g *globals) *cobra.Command {
	var (
		signer revokeSigner
		out    string
	)
	cmd := &cobra.Command{
		Use:   "cosign ENVELOPE.json|- (--key KEY... | --gpg FPR) [--out FILE]",
		Short: "Add your signature to an envelope others signed (a quorum of keys held apart)",
		Long: `cosign adds a signature by each --key (or --gpg) to a DSSE envelope signed
elsewhere, without contacting trustd: the statement is unchanged, so every
signature already on it stays valid. It is how keys held by different people
sign one statement, e.g. a revocation by the security authority, which trustd
accepts only when --security-authority-threshold of its keys signed the same
envelope:

  alice$ trustctl revoke digest sha256:… --reason malicious --key alice.pem --out rev.json
  bob$   trustctl statement cosign rev.json --key bob.pem --out rev.json
  bob$   trustctl statement submit rev.json

Before signing it prints what the statement says and who signed it so far
(the key ids, unverified: trustd verifies every signature on submission). A
key that already signed the envelope is refused.`,
		Example: `  trustctl statement cosign rev.json --key bob.pem --out rev.json
  trustctl statement cosign - --key 'pkcs11:token=sec;object=bob' < rev.json > rev2.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := readBounded(args[0], maxEnvelopeFile)
			if err != nil {
				return fmt.Errorf("ENVELOPE: %w", err)
			}
			lim := envelope.DefaultLimits()
			env, err := envelope.Decode(raw, lim)
			if err != nil {
				return fmt.Errorf("ENVELOPE: %w", err)
			}
			payload, err := env.DecodeB64Payload()
			if err != nil {
				return fmt.Errorf("ENVELOPE: payload: %w", err)
			}
			st, err := envelope.ParseStatement(env.PayloadType, payload, lim)
			if err != nil {
				return fmt.Errorf("ENVELOPE: %w", err)
			}
			describeStatement(cmd.ErrOrStderr(), st, env)
			signers, err := signer.load(cmd.Context())
			if err != nil {
				return err
			}
			pae := dsse.PAE(env.PayloadType, payload)
			for _, s := range signers {
				id, err := s.KeyID()
				if err != nil {
					return fmt.Errorf("signing key: %w", err)
				}
				if slices.ContainsFunc(env.Signatures, func(sg dsse.Signature) bool { return sg.KeyID == id }) {
					return fmt.Errorf("key %s already signed this envelope", id)
				}
				sig, err := s.Sign(cmd.Context(), pae)
				if err != nil {
					return fmt.Errorf("sign with key %s: %w", id, err)
				}
				env.Signatures = append(env.Signatures, dsse.Signature{KeyID: id, Sig: base64.StdEncoding.EncodeToString(sig)})
				fmt.Fprintf(cmd.ErrOrStderr(), "signed by %s (%d signatures)\n", id, len(env.Signatures))
			}
			signed, err := json.Marshal(env)
			if err != nil {
				return err
			}
			return writeSigned(cmd, out, signed)
		},
	}
	cmd.Flags().StringVar(&out, "out", "-", "write the envelope here (- for stdout); may be ENVELOPE itself")
	signer.flags(cmd)
	return cmd
}

// describeStatement prints what a statement says and who signed its
// envelope so far, so a cosigner sees what they sign.
func describeStatement(w io.Writer, st envelope.Statement, env *dsse.Envelope) {
	var ids []string
	for _, s := range env.Signatures {
		ids = append(ids, s.KeyID)
	}
	fmt.Fprintf(w, "statement %s, signed so far by %s\n", st.PredicateType, strings.Join(ids, ", "))
	if p, err := revocation.Parse(st); err == nil {
		fmt.Fprintf(w, "  %s %s (%s) effective %s", p.Action, p.Target, p.Reason, p.Effective.UTC().Format(time.RFC3339))
		if p.Comment != "" {
			fmt.Fprintf(w, ": %q", p.Comment)
		}
		fmt.Fprintln(w)
		return
	}
	for _, s := range st.Subjects {
		var ds []string
		for _, d := range s.Digests {
			ds = append(ds, d.String())
		}
		fmt.Fprintf(w, "  subject %s %s\n", s.Name, strings.Join(ds, " "))
	}
}
