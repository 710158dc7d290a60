package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/cliutil"
	"github.com/trustd-dev/trustd/pgp"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/timerule"
)

func newPGPCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pgp",
		Short: "OpenPGP: publish signed manifests, delegate, rotate, revoke, decide",
		Long: `pgp works with OpenPGP keys as GnuPG makes them. Register a certificate
first with 'trustctl key add' (gpg --export --armor output works).

  publish   a signed checksum manifest (SHA256SUMS + .gpg, Debian Release +
            Release.gpg or InRelease), or a key transition statement
  delegate  let another key sign for names matching patterns, until a time
  rotate    hand a key's authority to a new key (signed by both)
  revoke    publish a revocation (gpg --gen-revoke output, or a revoked certificate's export)
  verify    may a key sign for a name, given pinned root keys? (exit 1: refused)

Statements are signed on this machine, with an exported secret key (--key)
or through the local gpg program (--gpg FINGERPRINT), so keys in gpg-agent
or on a smartcard never leave it.`,
	}
	cmd.AddCommand(newPGPPublishCmd(g), newPGPDelegateCmd(g), newPGPRotateCmd(g), newPGPRevokeCmd(g), newPGPVerifyCmd(g))
	return cmd
}

func newPGPPublishCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "publish MANIFEST [SIGNATURE]",
		Short: "Publish an OpenPGP-signed checksum manifest (or key transition statement)",
		Long: `publish sends a checksum manifest and its OpenPGP signature to trustd, which
verifies it against the signer's registered certificate, indexes every
listed digest under its file name, and logs manifest and signature verbatim.
With one argument the file is clearsigned (gpg --clearsign, InRelease).

Formats: GNU coreutils (sha256sum, sha512sum, b2sum; text and binary mode)
and BSD tagged lines ("SHA256 (file) = hex"). The manifest's file name picks
the algorithm of untagged lines (SHA256SUMS, SHA512SUMS, B2SUMS, …); use
--name when the file is saved under another name. Lines that cannot be
indexed are listed; the rest is published. A manifest with no line to
index is refused, with the reason.

Debian repositories: a file named Release (with Release.gpg) or InRelease
(or apt's ..._Release, ..._InRelease) is read as a deb822 Release file: the
" HEX SIZE PATH" lines of its SHA256 and SHA512 fields are indexed (MD5Sum
and SHA1 are not), and the two digests of one path become aliases of one
subject.

Key transitions: a clearsigned key transition statement is imported as a
rotation from the old key to the new key (as 'pgp rotate' makes), not as
a manifest. ` + pgp.TransitionFormat,
		Example: `  gpg --detach-sign SHA256SUMS && trustctl pgp publish SHA256SUMS SHA256SUMS.gpg
  trustctl pgp publish InRelease
  trustctl pgp publish Release Release.gpg
  gpg --clearsign -u $OLD -u $NEW transition.txt && trustctl pgp publish transition.txt.asc
  trustctl subject sha256:…      # "signed in manifest SHA256SUMS by key …"`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &trustv1.PublishManifestRequest{Name: name}
			if req.Name == "" {
				req.Name = filepath.Base(args[0])
			}
			var err error
			if len(args) == 1 {
				if req.Clearsigned, err = readBounded(args[0], pgp.MaxClearsignedBytes); err != nil {
					return fmt.Errorf("MANIFEST: %w", err)
				}
			} else {
				if req.Manifest, err = readBounded(args[0], pgp.MaxManifestBytes); err != nil {
					return fmt.Errorf("MANIFEST: %w", err)
				}
				if req.Signature, err = readBounded(args[1], pgp.MaxSignatureBytes); err != nil {
					return fmt.Errorf("SIGNATURE: %w", err)
				}
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.PGP.PublishManifest(ctx, req)
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				w := cmd.OutOrStdout()
				verb := "published"
				if !resp.GetCreated() {
					verb = "already published"
				}
				if t := resp.GetTransition(); t != nil {
					if !resp.GetCreated() {
						verb = "already imported"
					} else {
						verb = "imported"
					}
					fmt.Fprintf(w, "%s key transition %s -> %s (a rotation, effective %s): seq %d\n", verb, t.GetOld(), t.GetNew(),
						ts(t.GetEffective().AsTime()), resp.GetEntry().GetSeq())
					return nil
				}
				fmt.Fprintf(w, "%s %s: seq %d, %d entries, signed by %s (key %s) at %s\n", verb, req.Name, resp.GetEntry().GetSeq(),
					resp.GetEntryCount(), resp.GetSigner(), resp.GetSigningKey(), ts(resp.GetSignedAt().AsTime()))
				for _, p := range resp.GetProblems() {
					fmt.Fprintf(w, "not indexed: line %d: %s: %s\n", p.GetLine(), p.GetReason(), p.GetText())
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the manifest's name (default: MANIFEST's file name)")
	return cmd
}

// pgpSigners are the --key/--gpg flags of the signing commands.
type pgpSigners struct {
	keys        []string
	gpg         []string
	gpgProgram  string
	passwordEnv string
}

func (s *pgpSigners) flags(cmd *cobra.Command, what string) {
	cmd.Flags().StringArrayVar(&s.keys, "key", nil, "OpenPGP secret key file (gpg --export-secret-keys --armor) "+what)
	cmd.Flags().StringArrayVar(&s.gpg, "gpg", nil, "sign through gpg with this key fingerprint "+what)
	cmd.Flags().StringVar(&s.gpgProgram, "gpg-program", "gpg", "the gpg program to run for --gpg")
	cmd.Flags().StringVar(&s.passwordEnv, "key-password-env", "", "environment variable holding the passphrase of --key files")
}

// load returns the signers, in flag order (--key first).
func (s *pgpSigners) load(ctx context.Context) ([]envelope.Signer, error) {
	var pass []byte
	if s.passwordEnv != "" {
		v, ok := os.LookupEnv(s.passwordEnv)
		if !ok {
			return nil, fmt.Errorf("--key-password-env: %s is not set", s.passwordEnv)
		}
		pass = []byte(v)
	}
	var out []envelope.Signer
	for _, path := range s.keys {
		data, err := readBounded(path, pgp.MaxCertificateBytes)
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		k, err := pgp.NewKeySigner(data, pass)
		if err != nil {
			return nil, fmt.Errorf("--key %s: %w", path, err)
		}
		out = append(out, k)
	}
	for _, fpr := range s.gpg {
		k, err := pgp.NewGPGSigner(ctx, s.gpgProgram, fpr, nil)
		if err != nil {
			return nil, fmt.Errorf("--gpg %s: %w", fpr, err)
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, errors.New("no signer: give --key FILE or --gpg FINGERPRINT")
	}
	return out, nil
}

// parseTime reads an RFC 3339 time or a date (midnight UTC).
func parseTime(flag, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s: %q is neither RFC 3339 (2026-01-02T15:04:05Z) nor a date (2026-01-02)", flag, s)
}

// fingerprintFlag normalizes a fingerprint flag value.
func fingerprintFlag(flag, s string) (string, error) {
	f, err := pgp.NormalizeFingerprint(s)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	return f, nil
}

// submitPGPStatement signs an authority statement about the registered
// certificate subject (its subject is the sha256 of the certificate bytes)
// and submits it.
func submitPGPStatement(ctx context.Context, cmd *cobra.Command, g *globals, c *client.Client, predicateType string, predicate any, subject string, signers []envelope.Signer) error {
	k, err := c.Keys.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: subject})
	if err != nil {
		return err
	}
	if k.GetKey().GetPgp() == nil {
		return fmt.Errorf("key %s is not an OpenPGP certificate", subject)
	}
	sum := sha256.Sum256(k.GetKey().GetPgp().GetCertificate())
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		return err
	}
	pred, err := json.Marshal(predicate)
	if err != nil {
		return err
	}
	payload, err := envelope.NewStatement(predicateType, pred, envelope.Subject{Name: subject, Digests: []digest.Digest{d}})
	if err != nil {
		return err
	}
	env, err := envelope.Sign(ctx, "application/vnd.in-toto+json", payload, signers...)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return err
	}
	resp, err := c.Statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: raw})
	if err != nil {
		return err
	}
	if g.output == "json" {
		return printJSON(cmd.OutOrStdout(), resp)
	}
	verb := "accepted"
	if !resp.GetCreated() {
		verb = "already in the log"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: seq %d\n", verb, resp.GetEntry().GetSeq())
	return nil
}

func newPGPDelegateCmd(g *globals) *cobra.Command {
	var (
		from, to, until string
		scope           []string
		maxDepth        int
		signers         pgpSigners
	)
	cmd := &cobra.Command{
		Use:   "delegate --from A --to B --scope PATTERN... (--key FILE | --gpg A)",
		Short: "Let key B sign for names matching patterns, signed by key A",
		Long: `delegate grants key B (--to) the right to sign for names matching --scope,
from now until --until, signed by key A (--from). Both certificates must be
registered. Patterns use path.Match syntax ("*" stays within one path
segment), "dir/**" matches everything below dir, "**" every name.
--max-depth lets B delegate further, that many levels (0: not at all).
The statement's subject is B's certificate (sha256 of its bytes).`,
		Example: `  trustctl pgp delegate --from $ROOT --to $DEV --scope 'releases/app/**' --until 2027-01-01 --gpg $ROOT
  trustctl pgp delegate --from $ROOT --to $TEAM --scope '**' --max-depth 1 --key root.sec.asc`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var (
				d   = pgp.Delegation{Scope: scope, MaxDepth: maxDepth, Until: time.Now().UTC().AddDate(1, 0, 0).Truncate(time.Second)}
				err error
			)
			if d.Delegator, err = fingerprintFlag("--from", from); err != nil {
				return err
			}
			if d.Delegate, err = fingerprintFlag("--to", to); err != nil {
				return err
			}
			if until != "" {
				if d.Until, err = parseTime("--until", until); err != nil {
					return err
				}
			}
			if err := d.Validate(); err != nil {
				return err
			}
			ss, err := signers.load(cmd.Context())
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				return submitPGPStatement(ctx, cmd, g, c, pgp.DelegationPredicateType, d, d.Delegate, ss)
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the delegating key's fingerprint (it signs)")
	cmd.Flags().StringVar(&to, "to", "", "the delegate key's fingerprint")
	cmd.Flags().StringArrayVar(&scope, "scope", nil, "name pattern the delegate may sign for (repeatable)")
	cmd.Flags().StringVar(&until, "until", "", "end of the delegation, RFC 3339 or a date (default: one year from now)")
	cmd.Flags().IntVar(&maxDepth, "max-depth", 0, "how many further levels the delegate may delegate (0 to 8)")
	signers.flags(cmd, "of the --from key")
	for _, f := range []string{"from", "to", "scope"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func newPGPRotateCmd(g *globals) *cobra.Command {
	var (
		oldKey, newKey, effective, reason string
		signers                           pgpSigners
	)
	cmd := &cobra.Command{
		Use:   "rotate --old A --new B [--effective T] (--key/--gpg for A) (--key/--gpg for B)",
		Short: "Hand key A's authority to key B from a time; signed by both",
		Long: `rotate publishes a key transition: from --effective on, B inherits A's
authority (delegations to A, being a pinned root), and A is superseded from
--effective (E) on. The supersession is one revocation among all others
(revocations lookup, list, offline lists). Both keys must sign, so give two
signers (--key and/or --gpg, once for each key). The statement's subject is
B's certificate.

` + timerule.Help,
		Example: `  trustctl pgp rotate --old $OLD --new $NEW --effective 2026-07-01 --gpg $OLD --gpg $NEW`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := pgp.Rotation{Reason: reason, Effective: time.Now().UTC().Truncate(time.Second)}
			var err error
			if r.Old, err = fingerprintFlag("--old", oldKey); err != nil {
				return err
			}
			if r.New, err = fingerprintFlag("--new", newKey); err != nil {
				return err
			}
			if effective != "" {
				if r.Effective, err = parseTime("--effective", effective); err != nil {
					return err
				}
			}
			if err := r.Validate(); err != nil {
				return err
			}
			ss, err := signers.load(cmd.Context())
			if err != nil {
				return err
			}
			if len(ss) < 2 {
				return errors.New("a rotation is signed by both keys: give two signers (--key/--gpg for --old and for --new)")
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				return submitPGPStatement(ctx, cmd, g, c, pgp.RotationPredicateType, r, r.New, ss)
			})
		},
	}
	cmd.Flags().StringVar(&oldKey, "old", "", "the key being replaced")
	cmd.Flags().StringVar(&newKey, "new", "", "the replacement key")
	cmd.Flags().StringVar(&effective, "effective", "", "when the new key takes over, RFC 3339 or a date (default: now)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, in a few words")
	signers.flags(cmd, "(one for each key)")
	_ = cmd.MarkFlagRequired("old")
	_ = cmd.MarkFlagRequired("new")
	return cmd
}

func newPGPRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke REVOCATION.asc|CERTIFICATE.asc",
		Short: "Publish an OpenPGP revocation (revocation certificate or revoked certificate)",
		Long: `revoke sends a revocation to trustd, which verifies it against the
registered certificate and logs it. The file is either a revocation
certificate (gpg --gen-revoke output, or the file gpg keeps in
$GNUPGHOME/openpgp-revocs.d with the ':' before its armor line removed), or
a revoked certificate as gpg --export writes it (after gpg --edit-key KEY
revkey, or after importing a revocation certificate), whose key revocation
signatures are taken out and logged (its subkey revocations, if it has no
key revocation); armored or binary. To merge every other change of a
re-exported certificate too, give it to 'trustctl key add'. From then on it is one revocation among all others: revocations
lookup and list, the signed offline lists, subject, key show, policies and
tokens all see it. The certificate's reason decides: compromised, no reason
or an unknown reason is hard; superseded or retired is soft, effective at
the revocation's creation time E.

` + timerule.Help,
		Example: `  gpg --gen-revoke $FPR > rev.asc && trustctl pgp revoke rev.asc
  gpg --export --armor $FPR | trustctl pgp revoke -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readBounded(args[0], pgp.MaxCertificateBytes)
			if err != nil {
				return fmt.Errorf("REVOCATION: %w", err)
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.PGP.Revoke(ctx, &trustv1.RevokeRequest{Revocation: data})
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				kind := "soft: signatures the log observed before it stay valid"
				if resp.GetHard() {
					kind = "hard: every signature the key made is invalid"
				}
				verb := "revoked"
				if !resp.GetCreated() {
					verb = "already revoked"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%s, %s) at %s: seq %d\n", verb, resp.GetFingerprint(), resp.GetReason(), kind,
					ts(resp.GetRevokedAt().AsTime()), resp.GetEntry().GetSeq())
				return nil
			})
		},
	}
}

func newPGPVerifyCmd(g *globals) *cobra.Command {
	var (
		name, signer, at, observed string
		roots                      []string
	)
	cmd := &cobra.Command{
		Use:   "verify --name N --signer FPR --root FPR... [--at T]",
		Short: "Decide whether a key may sign for a name, given pinned root keys",
		Long: `verify asks trustd whether the key --signer (a primary key or a signing
subkey) may sign for --name with a signature claiming --at (default now),
following the delegations and rotations in the log from a pinned --root,
and counting revocations, expiry and supersession. It prints the chain, or
the precise reason for refusal (scope-escape, expired-delegation,
revoked-compromised, superseded, …) and exits 1.

It applies trustd's one time rule, the same as policies, tokens and subject,
to a signature claiming --at and first observed by the log at --observed: a
signature not yet in the log is observed now. Give --observed only for a
signature the log holds, with its recorded time.

` + timerule.Help,
		Example: `  trustctl pgp verify --name releases/app/1.0.tar.gz --signer $DEV --root $ROOT`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &trustv1.DecideRequest{Name: name, Signer: signer, Roots: roots}
			if at != "" {
				t, err := parseTime("--at", at)
				if err != nil {
					return err
				}
				req.SignedAt = timestamppb.New(t)
			}
			if observed != "" {
				t, err := parseTime("--observed", observed)
				if err != nil {
					return err
				}
				req.ObservedAt = timestamppb.New(t)
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.PGP.Decide(ctx, req)
				if err != nil {
					return err
				}
				if g.output == "json" {
					if err := printJSON(cmd.OutOrStdout(), resp); err != nil {
						return err
					}
				} else {
					printDecision(cmd.OutOrStdout(), resp)
				}
				if !resp.GetAllowed() {
					return cliutil.Negative(fmt.Errorf("refused: %s", resp.GetRefusal().GetCode()))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the name signed for (file or artifact name)")
	cmd.Flags().StringVar(&signer, "signer", "", "fingerprint of the key that signed (primary or subkey)")
	cmd.Flags().StringArrayVar(&roots, "root", nil, "pinned root key fingerprint (repeatable)")
	cmd.Flags().StringVar(&at, "at", "", "the time the signature claims, RFC 3339 or a date (default: now)")
	cmd.Flags().StringVar(&observed, "observed", "", "when the log first recorded the signature, RFC 3339 or a date (default: now, not yet in the log)")
	for _, f := range []string{"name", "signer", "root"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

func printDecision(w io.Writer, resp *trustv1.DecideResponse) {
	if !resp.GetAllowed() {
		r := resp.GetRefusal()
		at := ""
		if r.GetStatementSeq() != 0 {
			at = fmt.Sprintf(" (statement #%d)", r.GetStatementSeq())
		}
		fmt.Fprintf(w, "refused: %s%s: %s\n", r.GetCode(), at, r.GetDetail())
		return
	}
	ch := resp.GetChain()
	steps := []string{"root " + ch.GetRoot()}
	for _, l := range ch.GetLinks() {
		steps = append(steps, fmt.Sprintf("%s #%d to %s", l.GetKind(), l.GetStatementSeq(), l.GetTo()))
	}
	fmt.Fprintf(w, "allowed: %s\n", strings.Join(steps, " -> "))
}
