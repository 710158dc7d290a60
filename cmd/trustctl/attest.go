package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/cosign"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/cliutil"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// maxAttestationFile bounds attestations and predicates read by trustctl;
// the server's --max-attestation-bytes is what counts.
const maxAttestationFile = 64 << 20

// attestCallOptions let responses carry large attestations (SBOMs) back.
var attestCallOptions = []grpc.CallOption{grpc.MaxCallRecvMsgSize(maxAttestationFile + 1<<20)}

func newAttestCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attest",
		Short: "Submit, create, find and check attestations (in-toto, Sigstore bundles, in-toto layouts)",
		Long: `Attestations are signed claims about artifacts: SLSA provenance, SBOMs,
vulnerability scans, test results. trustd verifies each on submission, keeps it
verbatim in its verifiable log, and finds it again by any digest of its
subjects. It reads in-toto statements in DSSE envelopes (signed by registered
keys), Sigstore bundles (keyless, verified against the server's trusted root,
signer recorded as sigstore:ISSUER#SUBJECT), and in-toto layouts (v0.9
metablocks and in-toto 1.0 DSSE envelopes) with their links and sublayouts.`,
	}
	cmd.AddCommand(newAttestPutCmd(g), newAttestSignCmd(g), newAttestListCmd(g), newAttestGetCmd(g), newAttestVerifyLayoutCmd(g))
	return cmd
}

func newAttestPutCmd(g *globals) *cobra.Command {
	var (
		want, layout string
		id           trustv1.SigstoreIdentity
		layoutKeys   []string
		cosignKey    string
	)
	cmd := &cobra.Command{
		Use:   "put FILE|-",
		Short: "Submit a DSSE envelope, a Sigstore bundle, or an in-toto layout or link",
		Long: `put submits a signed attestation exactly as it was signed. The format is
recognised: a DSSE envelope (in-toto statement v1 or v0.1), a Sigstore bundle
(v0.1 to v0.3 JSON, as cosign --new-bundle-format and sigstore-go write), or an
in-toto layout or link (a v0.9 metablock or an in-toto 1.0 DSSE envelope). What
does not verify is refused with the reason and nothing is stored.

--cosign-key KEYID takes what cosign signed with a key (not keyless) and
registered with trustctl key add: a legacy bundle of cosign sign-blob --bundle
(give --digest, the signed file's sha256: the bundle does not say what it
signs), a Sigstore bundle of --new-bundle-format (sign-blob or attest-blob), or
a DSSE envelope of cosign attest. trustd verifies it against that key and
records it as that key's signature.

--digest makes trustd check that the attestation is about that artifact.
--issuer and --identity (or their -regexp forms; give both) require a Sigstore
bundle's certificate identity; without them any identity the trusted root's CA
certified is accepted, and recorded. A layout needs --layout-key: the
registered key id(s) of the project owner who signed it (trustd's key id or
the key's in-toto key id); a link needs --layout: the layout's sequence number.
A sublayout (a layout that is the link of a step) is put with --layout of its
parent layout, and its own links with --layout of the sublayout.`,
		Example: `  trustctl attest put app.intoto.dsse.json --digest sha256:…
  trustctl attest put app.sigstore.json --issuer https://token.actions.githubusercontent.com \
      --identity-regexp '^https://github.com/example/app/'
  trustctl attest put root.layout --layout-key 5c3b…    # prints the layout's seq, e.g. 12
  trustctl attest put package.a1b2c3d4.link --layout 12
  trustctl attest put app.cosign.bundle --cosign-key 5c3b… --digest sha256:…`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readBounded(args[0], maxAttestationFile)
			if err != nil {
				return fmt.Errorf("FILE: %w", err)
			}
			req := &trustv1.PutAttestationRequest{Data: data, LayoutKeyIds: layoutKeys}
			if cosignKey != "" {
				if req.Data, err = cosignRecord(data, cosignKey, want); err != nil {
					return err
				}
			}
			if want != "" {
				d, err := digest.Parse(want)
				if err != nil {
					return fmt.Errorf("--digest: %w", err)
				}
				req.Digest = d.String()
			}
			if layout != "" {
				n, err := strconv.ParseUint(layout, 10, 64)
				if err != nil || n == 0 {
					return fmt.Errorf("--layout: %q is not a sequence number", layout)
				}
				req.Layout = n
			}
			if id.Issuer != "" || id.IssuerRegexp != "" || id.Subject != "" || id.SubjectRegexp != "" {
				req.Identity = &id
			}
			return g.putAttestation(cmd, req)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&want, "digest", "", "require the attestation to name this digest as a subject")
	fl.StringVar(&id.Issuer, "issuer", "", "Sigstore: required OIDC issuer of the signing certificate")
	fl.StringVar(&id.IssuerRegexp, "issuer-regexp", "", "Sigstore: regular expression the OIDC issuer must match")
	fl.StringVar(&id.Subject, "identity", "", "Sigstore: required certificate subject (email, workflow URI)")
	fl.StringVar(&id.SubjectRegexp, "identity-regexp", "", "Sigstore: regular expression the certificate subject must match")
	fl.StringArrayVar(&layoutKeys, "layout-key", nil, "in-toto layout: registered key id (or in-toto key id) of the owner who signed it; repeatable (default none)")
	fl.StringVar(&layout, "layout", "", "in-toto link or sublayout: sequence number of its layout (default none)")
	fl.StringVar(&cosignKey, "cosign-key", "", "cosign: the registered key id that signed FILE, a cosign key-based bundle or DSSE envelope (default none)")
	return cmd
}

// cosignRecord wraps a document cosign signed with the registered key
// keyID as the cosign.Record trustd verifies: a legacy bundle
// (base64Signature; its signed digest is want), a Sigstore bundle
// (mediaType) or a DSSE envelope (payloadType).
func cosignRecord(data []byte, keyID, want string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("FILE: not a JSON object: %w", err)
	}
	r := cosign.Record{Cosign: cosign.RecordVersion, KeyID: keyID, Data: data}
	switch {
	case top["base64Signature"] != nil:
		if want == "" {
			return nil, errors.New("--digest: required with a legacy cosign bundle: give the signed file's sha256")
		}
		d, err := digest.Parse(want)
		if err != nil {
			return nil, fmt.Errorf("--digest: %w", err)
		}
		r.Kind, r.Digest = cosign.KindBlobBundle, d.String()
	case top["mediaType"] != nil:
		r.Kind = cosign.KindSigstoreBundle
	case top["payloadType"] != nil:
		r.Kind = cosign.KindDSSE
	default:
		return nil, errors.New("FILE: --cosign-key takes a cosign bundle (base64Signature), a Sigstore bundle (mediaType) or a DSSE envelope (payloadType)")
	}
	return r.Encode()
}

func (g *globals) putAttestation(cmd *cobra.Command, req *trustv1.PutAttestationRequest) error {
	return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
		resp, err := c.Attest.PutAttestation(ctx, req, attestCallOptions...)
		if err != nil {
			return err
		}
		if g.output == "json" {
			resp.GetAttestation().Envelope = nil
			return printJSON(cmd.OutOrStdout(), resp)
		}
		state := "accepted"
		if !resp.GetCreated() {
			state = "already in the log"
		}
		a := resp.GetAttestation()
		fmt.Fprintf(cmd.OutOrStdout(), "%s: seq %d\n", state, a.GetSeq())
		printAttestation(cmd.OutOrStdout(), a)
		return nil
	})
}

func printAttestation(w io.Writer, a *trustv1.Attestation) {
	fmt.Fprintf(w, "seq %d  %s  %s\n", a.GetSeq(), a.GetKind(), a.GetPredicateType())
	fmt.Fprintf(w, "  signed by %s\n  recorded %s\n", strings.Join(a.GetSigners(), ", "), ts(a.GetRecordedAt().AsTime()))
	if a.GetRevoked() {
		fmt.Fprintf(w, "  REVOKED: %s\n", a.GetRevokedReason())
	}
	for _, s := range a.GetSubjects() {
		fmt.Fprintf(w, "  subject %s\n", strings.Join(append(nonEmpty(s.GetName()), s.GetDigests()...), " "))
	}
	if x := a.GetIndex(); x != nil {
		for _, f := range []struct{ name, value string }{
			{"builder", x.GetBuilderId()}, {"build type", x.GetBuildType()}, {"source", x.GetSourceRepository()},
			{"ref", x.GetSourceRef()}, {"document", x.GetDocumentName()}, {"version", x.GetDocumentVersion()},
			{"verifier", x.GetVerifierId()}, {"result", x.GetVerificationResult()},
		} {
			if f.value != "" {
				fmt.Fprintf(w, "  %s: %s\n", f.name, f.value)
			}
		}
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func newAttestSignCmd(g *globals) *cobra.Command {
	var (
		predicateType, predicateFile, out, name string
		algs                                    []string
		key                                     signingKey
		ref                                     refFlags
	)
	cmd := &cobra.Command{
		Use:   "sign REF --predicate-type T --predicate FILE --key KEY",
		Short: "Hash an artifact, build an in-toto statement about it, sign and submit it",
		Long: `sign reads the artifact once, computing the digests --algorithm names (sha256
and sha512 unless told otherwise: only those, so a large artifact is read
at the speed of the slower of two hashes, not of every hash trustd knows),
and makes an in-toto Statement v1 whose subject lists them, so the
attestation is found by any. For an OCI reference the subject is the image
manifest, its digest checked against the registry's and the reference's.
It signs the statement into a DSSE envelope with a local key (registered
with 'trustctl key add') and submits it, or writes it to --out. A large
artifact shows its progress on stderr (see --progress).

` + refHelp,
		Example: `  trustctl attest sign dist/app.tar.gz --predicate-type https://slsa.dev/provenance/v1 \
      --predicate provenance.json --key release.pem
  trustctl attest sign registry.example/acme/app:1.4 --predicate-type https://slsa.dev/provenance/v1 \
      --predicate provenance.json --key release.pem
  curl -sL https://example.com/app.tar.gz | trustctl attest sign - --name app.tar.gz \
      --predicate-type https://spdx.dev/Document --predicate sbom.spdx.json --key release.pem --out app.sbom.dsse.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			want, err := parseAlgorithms(algs)
			if err != nil {
				return err
			}
			predicate, err := readBounded(predicateFile, maxAttestationFile)
			if err != nil {
				return fmt.Errorf("--predicate: %w", err)
			}
			if !json.Valid(predicate) {
				return fmt.Errorf("--predicate: %s is not JSON", predicateFile)
			}
			signer, _, err := key.load()
			if err != nil {
				return err
			}
			subject, err := ref.subject(cmd, "REF", args[0], want)
			if err != nil {
				return err
			}
			if name != "" {
				subject.Name = name
			}
			payload, err := envelope.NewStatement(predicateType, predicate, subject)
			if err != nil {
				return err
			}
			env, err := envelope.Sign(cmd.Context(), envelope.PayloadTypeInToto, payload, signer)
			if err != nil {
				return err
			}
			raw, err := json.Marshal(env)
			if err != nil {
				return err
			}
			switch out {
			case "":
				return g.putAttestation(cmd, &trustv1.PutAttestationRequest{Data: raw})
			}
			return writeSigned(cmd, out, raw)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&predicateType, "predicate-type", "", "predicate type URI (https://slsa.dev/provenance/v1, https://spdx.dev/Document, …)")
	fl.StringVar(&predicateFile, "predicate", "", "JSON file holding the predicate (- for stdin)")
	fl.StringVar(&name, "name", "", "subject name (default: the file's or URL's base name)")
	fl.StringSliceVarP(&algs, "algorithm", "a", []string{string(digest.SHA256), string(digest.SHA512)}, "digest algorithms of the subject, comma-separated (one of "+algNames()+")")
	fl.StringVar(&out, "out", "", "write the signed envelope here (- for stdout) instead of submitting")
	key.flags(cmd)
	ref.add(fl)
	_ = cmd.MarkFlagRequired("predicate-type")
	_ = cmd.MarkFlagRequired("predicate")
	return cmd
}

func newAttestListCmd(g *globals) *cobra.Command {
	var (
		predicateType, signer, token string
		pageSize                     uint32
	)
	cmd := &cobra.Command{
		Use:   "list DIGEST",
		Short: "List the attestations about a digest, newest first",
		Long: `list shows the attestations naming DIGEST (any digest of the artifact the
attestation lists), newest first, with their verified signers, what trustd
indexed from their predicates, and whether they were revoked. It exits 1 when
there are none.`,
		Example: `  trustctl attest list sha256:… --predicate-type https://slsa.dev/provenance/v1
  trustctl attest list sha512:… --signer 'sigstore:https://token.actions.githubusercontent.com#https://github.com/example/app/.github/workflows/release.yml@refs/heads/main'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := parseDigestArg(args[0])
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Attest.ListAttestations(ctx, &trustv1.ListAttestationsRequest{
					Digest: d.String(), PredicateType: predicateType, Signer: signer, PageSize: pageSize, PageToken: token,
				}, attestCallOptions...)
				if err != nil {
					return err
				}
				if g.output == "json" {
					if err := printJSON(cmd.OutOrStdout(), resp); err != nil {
						return err
					}
				} else {
					for _, a := range resp.GetAttestations() {
						printAttestation(cmd.OutOrStdout(), a)
					}
					if resp.GetNextPageToken() != "" {
						fmt.Fprintf(cmd.ErrOrStderr(), "more: --page-token %s\n", resp.GetNextPageToken())
					}
				}
				if len(resp.GetAttestations()) == 0 && token == "" {
					return cliutil.Negative(fmt.Errorf("no attestations about %s", d))
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&predicateType, "predicate-type", "", "only attestations of this predicate type")
	fl.StringVar(&signer, "signer", "", "only attestations by this signer (key id or sigstore:ISSUER#SUBJECT)")
	fl.Uint32Var(&pageSize, "page-size", 0, "entries per page (server default 50, maximum 500)")
	fl.StringVar(&token, "page-token", "", "continue a previous listing")
	return cmd
}

func newAttestGetCmd(g *globals) *cobra.Command {
	var raw bool
	cmd := &cobra.Command{
		Use:     "get SEQ",
		Short:   "Show one attestation, or with --envelope its signed bytes",
		Example: "  trustctl attest get 42\n  trustctl attest get 42 --envelope > attestation.json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq(args[0])
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Attest.GetAttestation(ctx, &trustv1.GetAttestationRequest{Seq: seq}, attestCallOptions...)
				if err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				switch {
				case raw:
					_, err := w.Write(resp.GetAttestation().GetEnvelope())
					return err
				case g.output == "json":
					return printJSON(w, resp.GetAttestation())
				}
				printAttestation(w, resp.GetAttestation())
				fmt.Fprintf(w, "  envelope %s (%d bytes)\n", resp.GetAttestation().GetEnvelopeDigest(), len(resp.GetAttestation().GetEnvelope()))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&raw, "envelope", false, "print only the signed bytes, exactly as submitted")
	return cmd
}

// printLayoutChecks prints one line per check of a layout verification.
func printLayoutChecks(w io.Writer, resp *trustv1.VerifyLayoutResponse) {
	for _, c := range resp.GetChecks() {
		mark := "PASS"
		if !c.GetPassed() {
			mark = "FAIL"
		}
		links := ""
		if len(c.GetLinkSeqs()) > 0 {
			var seqs []string
			for _, s := range c.GetLinkSeqs() {
				seqs = append(seqs, strconv.FormatUint(s, 10))
			}
			links = " [links " + strings.Join(seqs, ", ") + "]"
		}
		fmt.Fprintf(w, "%s  %-10s %s: %s%s\n", mark, c.GetKind(), c.GetName(), c.GetDetail(), links)
	}
}

func newAttestVerifyLayoutCmd(g *globals) *cobra.Command {
	var (
		layout      uint64
		productName string
	)
	cmd := &cobra.Command{
		Use:   "verify-layout DIGEST --layout SEQ",
		Short: "Verify a final product against an in-toto layout and its submitted links",
		Long: `verify-layout runs in-toto verification (in-toto-golang) of the final product
with DIGEST against the layout at log entry SEQ and the links submitted for it,
and reports every check: the layout's expiry; per step, enough links signed by
authorised functionaries and the step's artifact rules; per inspection, its
artifact rules against the product. trustd never has the product's bytes and
runs no inspection commands: an inspection is checked as having read the
product and changed nothing. Exit 0 when every check passes, 1 when one fails.`,
		Example: `  trustctl attest verify-layout sha256:… --layout 12
  trustctl attest verify-layout sha256:… --layout 12 --product-name foo.tar.gz -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := parseDigestArg(args[0])
			if err != nil {
				return err
			}
			if layout == 0 {
				return errors.New("--layout: the layout's sequence number is required")
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Attest.VerifyLayout(ctx, &trustv1.VerifyLayoutRequest{Digest: d.String(), Layout: layout, ProductName: productName})
				if err != nil {
					return err
				}
				if g.output == "json" {
					if err := printJSON(cmd.OutOrStdout(), resp); err != nil {
						return err
					}
				} else {
					printLayoutChecks(cmd.OutOrStdout(), resp)
				}
				if !resp.GetPassed() {
					return cliutil.Negative(fmt.Errorf("%s does not verify against layout %d", d, layout))
				}
				if g.output != "json" {
					fmt.Fprintf(cmd.OutOrStdout(), "verified: %s (%s) against layout %d\n", resp.GetProductName(), d, layout)
				}
				return nil
			})
		},
	}
	cmd.Flags().Uint64Var(&layout, "layout", 0, "sequence number of the layout (printed by 'attest put LAYOUT')")
	cmd.Flags().StringVar(&productName, "product-name", "", "the product's name in the layout's rules (default: the one product of its last step)")
	return cmd
}
