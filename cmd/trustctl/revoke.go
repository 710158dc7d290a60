package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/pgp"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/timerule"
)

// revokeSigner is the --key / --gpg choice of the revocation commands:
// one or more PEM private keys (or PKCS#11 URIs), or an OpenPGP key
// through the local gpg.
type revokeSigner struct {
	keys        []string
	passwordEnv string
	pkcs11      pkcs11Flags
	gpg         string
	gpgProgram  string
}

func (s *revokeSigner) flags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&s.keys, "key", nil, "private key file (PEM PKCS#8) of a signing key, or a PKCS#11 URI 'pkcs11:token=T;object=LABEL?module-path=/path/module.so'; it never leaves this machine or token; repeat to sign one envelope with several keys (a security authority quorum)")
	cmd.Flags().StringVar(&s.passwordEnv, "key-password-env", "", "environment variable holding the password of every encrypted --key (else prompt for each)")
	s.pkcs11.flags(cmd)
	cmd.Flags().StringVar(&s.gpg, "gpg", "", "sign through gpg with this OpenPGP key fingerprint instead of --key")
	cmd.Flags().StringVar(&s.gpgProgram, "gpg-program", "gpg", "the gpg program to run for --gpg")
	cmd.MarkFlagsMutuallyExclusive("key", "gpg")
	cmd.MarkFlagsOneRequired("key", "gpg")
}

// load opens every signing key given.
func (s *revokeSigner) load(ctx context.Context) ([]envelope.Signer, error) {
	if s.gpg != "" {
		k, err := pgp.NewGPGSigner(ctx, s.gpgProgram, s.gpg, nil)
		if err != nil {
			return nil, fmt.Errorf("--gpg %s: %w", s.gpg, err)
		}
		return []envelope.Signer{k}, nil
	}
	var out []envelope.Signer
	for _, path := range s.keys {
		k := signingKey{path: path, passwordEnv: s.passwordEnv, pkcs11: s.pkcs11}
		signer, _, err := k.load()
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, path)
		}
		out = append(out, signer)
	}
	return out, nil
}

// signEnvelope signs an in-toto statement payload with every signer into
// one DSSE envelope (JSON).
func signEnvelope(ctx context.Context, payload []byte, signers []envelope.Signer) ([]byte, error) {
	env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, payload, signers...)
	if err != nil {
		return nil, err
	}
	return json.Marshal(env)
}

const revokeLong = `revoke signs a revocation statement (an in-toto statement of predicate type
https://trustd.dev/revocation/v1 in a DSSE envelope) on this machine and
submits it. trustd accepts it only from a key with authority for the target:

  key ID        the key itself, or the deployment's security authority
  statement ID  one of the statement's signers (ID: its log sequence number or
                the sha256 digest of its envelope)
  digest ID     a key signing the current metadata of the TUF targets role (or
                delegated role) that listed the digest, the OpenPGP key
                that published it or whose delegation (in force) covers its name,
                or the security authority ("known bad: do not deploy")
  token ID      the token issuer (--token-issuer) or the security authority
                (ID: the token id, sha256: and the sha256 of the token's
                envelope, as 'trustctl token issue' prints it)

The security authority (trustd --security-authority) acts only as a quorum:
K of its keys (trustd --security-authority-threshold) must sign the same
envelope, and only within its scopes (trustd --security-authority-scope). Give
--key once per key to sign with several keys here, or pass the envelope on
when the keys are held apart, each holder adding a signature:

  alice$ trustctl revoke digest sha256:… --reason malicious --key alice.pem --out rev.json
  bob$   trustctl statement cosign rev.json --key bob.pem --out rev.json
  bob$   trustctl statement submit rev.json

A key that is itself revoked holds no authority. --effective is E below; a
hard revocation ignores it.

` + timerule.Help + `

Revoking twice is harmless: the first (or a stronger, hard) revocation stays
in force.
Only a new statement by the same authority, 'trustctl revoke reinstate',
lifts a revocation; both stay in the log.`

func newRevokeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke key|statement|digest|token ID --reason R [--effective T] (--key KEY | --gpg FPR)",
		Short: "Revoke a key, a signed statement, a known-bad digest or a token",
		Long:  revokeLong,
		Example: `  trustctl revoke key 3e63ed31… --reason compromised --key laptop.pem
  trustctl revoke digest sha256:ff7a5e64… --reason malicious --key security-a.pem --key security-b.pem
  trustctl revoke statement 42 --reason withdrawn --key release.pem
  trustctl revoke key 3e63ed31… --reason superseded --effective 2026-07-01 --key old.pem
  trustctl revoke token sha256:9b1f42c0… --reason retired --key issuer.pem --output json
  trustctl revoke reinstate token sha256:9b1f42c0… --key issuer.pem`,
	}
	for _, kind := range revocation.Kinds {
		cmd.AddCommand(newRevokeKindCmd(g, kind, revocation.ActionRevoke))
	}
	re := &cobra.Command{
		Use:   "reinstate key|statement|digest|token ID (--key KEY | --gpg FPR)",
		Short: "Lift a revocation with a new statement from a key with the same authority",
		Long: `reinstate signs a reinstatement of a revoked target. The same authority rules
apply as for revoking (a security authority quorum included), and the target
must be revoked. The revocation and the reinstatement both stay in the log.`,
		Example: `  trustctl revoke reinstate digest sha256:ff7a5e64… --key security-a.pem --key security-b.pem --comment "false alarm"`,
	}
	for _, kind := range revocation.Kinds {
		re.AddCommand(newRevokeKindCmd(g, kind, revocation.ActionReinstate))
	}
	cmd.AddCommand(re)
	return cmd
}

func newRevokeKindCmd(g *globals, kind revocation.Kind, action revocation.Action) *cobra.Command {
	var (
		reason, effective, comment, out string
		signer                          revokeSigner
	)
	short := map[revocation.Kind]string{
		revocation.KindKey:       "a registered key, by key id",
		revocation.KindStatement: "a logged statement, by log sequence number or envelope digest",
		revocation.KindDigest:    "an artifact digest (known bad: do not deploy)",
		revocation.KindToken:     "an issued token, by token id (sha256:…, as token issue prints it)",
	}[kind]
	example := map[revocation.Kind]string{
		revocation.KindKey:       "key 3e63ed31… --reason compromised --key laptop.pem",
		revocation.KindStatement: "statement 42 --reason withdrawn --key release.pem",
		revocation.KindDigest:    "digest sha256:ff7a5e64… --reason malicious --key security-a.pem --key security-b.pem",
		revocation.KindToken:     "token sha256:9b1f42c0… --reason retired --key issuer.pem",
	}[kind]
	prefix := "  trustctl revoke "
	if action == revocation.ActionReinstate {
		prefix += "reinstate "
		head, tail, _ := strings.Cut(example, " --reason ")
		_, keyFlag, _ := strings.Cut(tail, " ")
		example = head + " " + keyFlag + ` --comment "false alarm"`
	}
	cmd := &cobra.Command{
		Use:     string(kind) + " ID",
		Short:   strings.ToUpper(string(action[:1])) + string(action[1:]) + " " + short,
		Long:    revokeLong,
		Example: prefix + example + "\n" + prefix + example + " --out revocation.dsse.json   # sign only",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := revocation.Predicate{Action: action, Target: revocation.Target{Kind: kind}, Comment: comment}
			r, err := revocation.ParseReason(reason)
			if err != nil {
				return fmt.Errorf("--reason: %w", err)
			}
			p.Reason = r
			p.Effective = time.Now().UTC().Truncate(time.Second)
			if effective != "" {
				if p.Effective, err = parseTime("--effective", effective); err != nil {
					return err
				}
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				if p.Target.ID, err = g.targetID(ctx, c, kind, args[0], out != ""); err != nil {
					return err
				}
				signers, err := signer.load(ctx)
				if err != nil {
					return err
				}
				stmt, err := revocation.NewStatement(p)
				if err != nil {
					return err
				}
				raw, err := signEnvelope(ctx, stmt, signers)
				if err != nil {
					return err
				}
				if out != "" {
					return writeSigned(cmd, out, raw)
				}
				resp, err := c.Revocations().SubmitRevocation(ctx, &trustv1.SubmitRevocationRequest{Envelope: raw})
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				state := "accepted"
				if !resp.GetCreated() {
					state = "already in the log"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: seq %d, %s %s:%s (%s) signed by %s\n", state, resp.GetEntry().GetSeq(), action, kind, p.Target.ID,
					p.Reason, strings.Join(resp.GetEntry().GetSignerKeyIds(), ", "))
				if st := resp.GetState(); st != nil && st.GetSeq() != resp.GetEntry().GetSeq() {
					fmt.Fprintf(cmd.OutOrStdout(), "in force: %s\n", formatRevocation(st))
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	defReason := ""
	if action == revocation.ActionReinstate {
		defReason = string(revocation.ReasonOther)
	}
	fl.StringVar(&reason, "reason", defReason, "compromised, superseded, retired, malicious, withdrawn or other")
	fl.StringVar(&effective, "effective", "", "when a soft reason (superseded, retired, withdrawn) takes effect: RFC 3339 time or date (default now); a hard one (compromised, malicious, other) holds at once")
	fl.StringVar(&comment, "comment", "", "free text kept in the statement")
	fl.StringVar(&out, "out", "", "write the signed envelope here (- for stdout) instead of submitting")
	signer.flags(cmd)
	if action == revocation.ActionRevoke {
		_ = cmd.MarkFlagRequired("reason")
	}
	return cmd
}

// targetID puts a command-line id in canonical form; a statement given by
// its log sequence number is looked up for its envelope digest (unless
// offline, when only the digest form works).
func (g *globals) targetID(ctx context.Context, c *client.Client, kind revocation.Kind, arg string, offline bool) (string, error) {
	if kind == revocation.KindStatement {
		if seq, err := strconv.ParseUint(arg, 10, 64); err == nil {
			if offline {
				return "", errors.New("ID: with --out, name the statement by its envelope digest (sha256:…), not its sequence number")
			}
			resp, err := c.Statements.GetStatement(ctx, &trustv1.GetStatementRequest{Seq: seq})
			if err != nil {
				return "", err
			}
			return resp.GetEntry().GetEnvelopeDigest(), nil
		}
	}
	id, err := revocation.CanonicalID(kind, arg)
	if err != nil {
		return "", fmt.Errorf("ID: %w", err)
	}
	return id, nil
}

// formatRevocation renders a revocation in one line: who, why, when.
func formatRevocation(r *trustv1.Revocation) string {
	verb := "revoked"
	if r.GetAction() == string(revocation.ActionReinstate) {
		verb = "reinstated"
	}
	// Seq 0: no log entry of its own (a revocation inside a registered
	// OpenPGP certificate); never cite "log entry 0".
	where := fmt.Sprintf("log entry %d", r.GetSeq())
	if r.GetSeq() == 0 {
		where = "in the registered certificate"
	}
	return fmt.Sprintf("%s:%s %s (%s) effective %s by %s, %s", r.GetKind(), r.GetId(), verb, r.GetReason(),
		r.GetEffective().AsTime().UTC().Format(time.RFC3339), strings.Join(r.GetRevokers(), ", "), where)
}
