package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/cobra"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/pkcs11"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/tuf"
)

// maxMetadataFile bounds TUF metadata read from disk or the server.
const maxMetadataFile = 16 << 20

func newTUFCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tuf",
		Short: "Create and maintain TUF repositories served by trustd",
		Long: `trustd is a TUF repository server: key holders sign root and targets metadata
on their own machines (private keys never leave them), trustd checks every
upload as a TUF client would and signs snapshot and timestamp with its
online keys. Any TUF client updates from http://HTTP_ADDR/tuf/REPO/.

  trustctl tuf init REPO ...     create a repository (root v1)
  trustctl sign ARTIFACT ...     publish a target (top-level command)
  trustctl tuf status REPO       versions, expiries, pending proposals
  trustctl tuf sign-pending ...  add your signature to a pending proposal
  trustctl tuf delegate ...      delegate paths or hashed bins to a role
  trustctl ceremony ...          rotate the root keys (root N+1)`,
	}
	cmd.AddCommand(newTUFInitCmd(g), newTUFStatusCmd(g), newTUFSignPendingCmd(g), newTUFUploadCmd(g), newTUFDelegateCmd(g))
	return cmd
}

// keyFile is a key given by file: a private key (which then also signs)
// or a public key.
type keyFile struct {
	key    *metadata.Key
	id     string
	signer signature.Signer // nil for a public key
}

// loadKeyFile loads a key file, or a key on a PKCS#11 token (a pkcs11:
// URI, which then signs), with opts' password and PIN flags.
func loadKeyFile(flag, path string, opts signingKey) (keyFile, error) {
	if pkcs11.IsURI(path) {
		s, pub, err := opts.pkcs11.open(flag, path)
		if err != nil {
			return keyFile{}, err
		}
		k, id, err := tuf.KeyFromEnvelope(pub)
		if err != nil {
			return keyFile{}, fmt.Errorf("%s %s: %w", flag, path, err)
		}
		return keyFile{key: k, id: id, signer: tuf.EnvelopeSigner(s)}, nil
	}
	data, err := readBounded(path, maxKeyFile)
	if err != nil {
		return keyFile{}, fmt.Errorf("%s: %w", flag, err)
	}
	if pub, err := envelope.ParsePublicKey(data); err == nil {
		k, id, err := tuf.KeyFromEnvelope(pub)
		if err != nil {
			return keyFile{}, fmt.Errorf("%s %s: %w", flag, path, err)
		}
		return keyFile{key: k, id: id}, nil
	}
	opts.path = path
	s, pub, err := opts.load()
	if err != nil {
		return keyFile{}, fmt.Errorf("%s: %s is neither a public nor a private key: %w", flag, path, err)
	}
	k, id, err := tuf.KeyFromEnvelope(pub)
	if err != nil {
		return keyFile{}, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return keyFile{key: k, id: id, signer: tuf.EnvelopeSigner(s)}, nil
}

// loadRootKeys checks the root and targets key flags of a root being built
// (targets keys may be omitted unless required: the current ones are kept)
// and loads the key files.
func loadRootKeys(rootKeys []string, rootThreshold int, targetsKeys []string, targetsThreshold int, targetsRequired bool,
	expires time.Duration, opts signingKey) (roots, targets []keyFile, err error) {
	if rootThreshold < 1 || rootThreshold > len(rootKeys) {
		return nil, nil, fmt.Errorf("--root-threshold: %d must be between 1 and the number of --root-key (%d)", rootThreshold, len(rootKeys))
	}
	if (targetsRequired || len(targetsKeys) > 0) && (targetsThreshold < 1 || targetsThreshold > len(targetsKeys)) {
		return nil, nil, fmt.Errorf("--targets-threshold: %d must be between 1 and the number of --targets-key (%d)", targetsThreshold, len(targetsKeys))
	}
	if expires <= 0 {
		return nil, nil, fmt.Errorf("--expires: %s must be positive", expires)
	}
	if roots, err = loadKeyFiles("--root-key", rootKeys, opts); err != nil {
		return nil, nil, err
	}
	if targets, err = loadKeyFiles("--targets-key", targetsKeys, opts); err != nil {
		return nil, nil, err
	}
	return roots, targets, nil
}

func loadKeyFiles(flag string, paths []string, opts signingKey) ([]keyFile, error) {
	var out []keyFile
	for _, p := range paths {
		k, err := loadKeyFile(flag, p, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func keySet(ks []keyFile, threshold int) tuf.KeySet {
	s := tuf.KeySet{Threshold: threshold}
	for _, k := range ks {
		s.Keys = append(s.Keys, k.key)
	}
	return s
}

// tufSigner loads --key as a TUF signer.
func (k *signingKey) tufSigner() (signature.Signer, string, error) {
	s, pub, err := k.load()
	if err != nil {
		return nil, "", err
	}
	if _, _, err := tuf.KeyFromEnvelope(pub); err != nil {
		return nil, "", fmt.Errorf("--key: %w", err)
	}
	return tuf.EnvelopeSigner(s), pub.ID, nil
}

func onlineKeys(ctx context.Context, c *client.Client) (snap, ts tuf.KeySet, err error) {
	resp, err := c.TUF.GetOnlineKeys(ctx, &trustv1.GetOnlineKeysRequest{})
	if err != nil {
		return snap, ts, err
	}
	conv := func(in []*trustv1.TUFKey) (tuf.KeySet, error) {
		ks := tuf.KeySet{Threshold: 1}
		for _, k := range in {
			var key metadata.Key
			if err := json.Unmarshal(k.GetKey(), &key); err != nil {
				return ks, fmt.Errorf("server's online key %s: %w", k.GetKeyId(), err)
			}
			ks.Keys = append(ks.Keys, &key)
		}
		if len(ks.Keys) == 0 {
			return ks, errors.New("the server has no online keys")
		}
		return ks, nil
	}
	if snap, err = conv(resp.GetSnapshot()); err != nil {
		return snap, ts, err
	}
	ts, err = conv(resp.GetTimestamp())
	return snap, ts, err
}

func newTUFInitCmd(g *globals) *cobra.Command {
	var (
		rootKeys, targetsKeys           []string
		rootThreshold, targetsThreshold int
		expires                         time.Duration
		out                             string
		keyOpts                         signingKey
	)
	cmd := &cobra.Command{
		Use:   "init REPO --root-key FILE... --root-threshold N --targets-key FILE... --targets-threshold N",
		Short: "Create a TUF repository: build root v1 with trustd's online keys, sign and upload it",
		Long: `init builds root version 1 of REPO: the root keys and threshold, the targets
keys and threshold, and trustd's own online keys for snapshot and timestamp
(fetched from the server). Every --root-key that is a private key file signs
it; --targets-key files may be public halves (KEY.pub). Root v1 is uploaded
when the given root keys meet --root-threshold.

With --out, nothing is uploaded: the root (signed by whatever private keys
were given) is written to FILE, so other root holders can sign it offline
('trustctl tuf sign-pending --file FILE') and 'trustctl tuf upload' sends it.

The server decides who may create which names (trustd --tuf-repo-creation,
--tuf-operator-key, --tuf-repo-owner): where it is restricted, root v1 must be
signed by an operator key or by an owner key of the name, given as one of the
--root-key files (so it is one of the repository's root keys). Names under
trustd/ are trustd's own and always refused.`,
		Example: `  trustctl key generate --out root.pem && trustctl key generate --out targets.pem
  trustctl tuf init acme/images --root-key root.pem --root-threshold 1 \
      --targets-key targets.pem.pub --targets-threshold 1

  # keys on a PKCS#11 token (HSM, YubiKey, SoftHSM2); the PIN from $HSM_PIN
  trustctl tuf init acme/images --pin-env HSM_PIN --root-threshold 1 --targets-threshold 1 \
      --root-key 'pkcs11:token=release;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so' \
      --targets-key 'pkcs11:token=release;object=targets?module-path=/usr/lib/softhsm/libsofthsm2.so'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo := args[0]
			if err := tuf.ValidRepoName(repo); err != nil {
				return fmt.Errorf("REPO: %w", err)
			}
			roots, targets, err := loadRootKeys(rootKeys, rootThreshold, targetsKeys, targetsThreshold, true, expires, keyOpts)
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				snap, ts, err := onlineKeys(ctx, c)
				if err != nil {
					return err
				}
				md, err := tuf.NewRoot(tuf.RootSpec{Version: 1, Expires: time.Now().Add(expires),
					Root: keySet(roots, rootThreshold), Targets: keySet(targets, targetsThreshold), Snapshot: snap, Timestamp: ts})
				if err != nil {
					return err
				}
				var signers []signature.Signer
				for _, k := range roots {
					if k.signer != nil {
						signers = append(signers, k.signer)
					}
				}
				doc, err := tuf.Sign(md, signers...)
				if err != nil {
					return err
				}
				if out != "" {
					if err := os.WriteFile(out, doc, 0o644); err != nil {
						return fmt.Errorf("--out: %w", err)
					}
					if g.output == "json" {
						return printJSON(cmd.OutOrStdout(), rootWritten{Repo: repo, Version: 1, File: out, Signatures: len(signers), Threshold: rootThreshold})
					}
					fmt.Fprintf(cmd.OutOrStdout(), "wrote root v1 of %s to %s, signed by %d of the %d root signatures it needs\n", repo, out, len(signers), rootThreshold)
					return nil
				}
				resp, err := c.TUF.InitRepo(ctx, &trustv1.InitRepoRequest{Repo: repo, Root: doc})
				if err != nil {
					return err
				}
				return g.printResult(cmd, resp.GetResult())
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&rootKeys, "root-key", nil, "root key: file (private: also signs; or public) or pkcs11: URI (signs on the token); repeatable")
	fl.IntVar(&rootThreshold, "root-threshold", 1, "root signatures required")
	fl.StringArrayVar(&targetsKeys, "targets-key", nil, "targets key: file (public or private) or pkcs11: URI; repeatable")
	fl.IntVar(&targetsThreshold, "targets-threshold", 1, "targets signatures required")
	fl.DurationVar(&expires, "expires", 365*24*time.Hour, "lifetime of root v1")
	fl.StringVar(&out, "out", "", "write the (partially) signed root here instead of uploading")
	fl.StringVar(&keyOpts.passwordEnv, "key-password-env", "", "environment variable holding the private keys' password")
	keyOpts.pkcs11.flags(cmd)
	_ = cmd.MarkFlagRequired("root-key")
	_ = cmd.MarkFlagRequired("targets-key")
	return cmd
}

// printResult prints what an upload published or left pending.
func (g *globals) printResult(cmd *cobra.Command, r *trustv1.TUFResult) error {
	if g.output == "json" {
		return printJSON(cmd.OutOrStdout(), r)
	}
	w := cmd.OutOrStdout()
	if p := r.GetPending(); p != nil {
		fmt.Fprintf(w, "%s %s v%d is pending: signed by %s\n", r.GetRepo(), r.GetRole(), r.GetVersion(), strings.Join(r.GetSignedBy(), ", "))
		printPending(w, p)
		return nil
	}
	var files []string
	for _, f := range r.GetPublished() {
		files = append(files, fmt.Sprintf("%s v%d", f.GetRole(), f.GetVersion()))
	}
	fmt.Fprintf(w, "published %s: %s\n", r.GetRepo(), strings.Join(files, ", "))
	for _, t := range r.GetTargets() {
		fmt.Fprintf(w, "  target %s (%d bytes) %s\n", t.GetName(), t.GetLength(), strings.Join(t.GetDigests(), " "))
	}
	return nil
}

func printPending(w io.Writer, p *trustv1.TUFPendingStatus) {
	fmt.Fprintf(w, "  %s v%d, signed part sha256 %s", p.GetRole(), p.GetVersion(), p.GetSignedDigest())
	if p.GetExpires() != nil {
		fmt.Fprintf(w, ", expires %s", ts(p.GetExpires().AsTime()))
	}
	fmt.Fprintln(w)
	if p.GetProblem() != "" {
		fmt.Fprintf(w, "  problem: %s\n", p.GetProblem())
	}
	for _, th := range p.GetThresholds() {
		fmt.Fprintf(w, "  %s: %d of %d signed (needs %d); missing %s\n", th.GetAuthority(), len(th.GetSigned()), len(th.GetKeyIds()),
			th.GetThreshold(), strings.Join(th.GetMissing(), ", "))
	}
}

// currentMetadata fetches the latest published version of role, nil if
// it has none yet.
func currentMetadata(ctx context.Context, c *client.Client, repo, role string) ([]byte, error) {
	resp, err := c.TUF.GetMetadata(ctx, &trustv1.GetMetadataRequest{Repo: repo, Name: role + ".json"})
	if err != nil {
		if status.Code(err) == codes.NotFound {
			return nil, nil // the role's first version; an unknown repository fails at upload
		}
		return nil, err
	}
	return resp.GetData(), nil
}

func newSignCmd(g *globals) *cobra.Command {
	var (
		repo, name, role string
		expires          time.Duration
		key              signingKey
		ref              refFlags
		loc, locURL      string
	)
	cmd := &cobra.Command{
		Use:   "sign REF --repo REPO --name NAME --key KEY [--role ROLE]",
		Short: "Publish an artifact as a TUF target: hash it, add it to a targets role, sign, upload",
		Long: `sign reads the artifact REF once, computing its length, sha256 and sha512
(for an OCI reference: of the image manifest, which is what 'trustctl verify'
checks); fetches the current metadata of --role (default
targets) from trustd; adds or replaces target NAME; bumps the version; signs
with --key on this machine and uploads. trustd checks it as a TUF client
would and publishes it with a new snapshot and timestamp, or keeps it
pending when the role needs more signatures ('trustctl tuf sign-pending').

The target's digests are indexed: 'trustctl subject DIGEST' shows it.

--location also places the bytes and records where they live (a file or
stdin artifact only):
  --location DIR --location-url https://HOST/PREFIX/
      writes the file as DIR/DIRNAME/SHA256HEX.BASE and
      DIR/DIRNAME/SHA512HEX.BASE of NAME (hard links where possible). trustd's
      roots use consistent snapshots and its targets carry both hashes, and a
      TUF client may fetch by either, so a blob store must serve both names:
      a plain static file server over DIR, at --location-url, is then a
      working TUF target store;
  --location oci://HOST/REPO
      pushes the file as a blob of the OCI repository (by its sha256).
Then it submits a location claim signed by --key (which must be a registered
key; as a signer of the targets role it makes the location authoritative):
'trustctl locations DIGEST' lists it, 'trustctl get' fetches from it.

` + refHelp,
		Example: `  trustctl sign dist/app-1.0.tar.gz --repo acme/images --name app/app-1.0.tar.gz --key targets.pem
  trustctl sign registry.example/acme/app:1.4 --repo acme/images --name acme/app:1.4 --key targets.pem   # the name a policy's name requirement derives
  curl -s https://example.com/x.iso | trustctl sign - --repo acme/images --name x.iso --key targets.pem
  # the targets key on a PKCS#11 token, the PIN read from a file
  trustctl sign app.tar --repo acme/images --name app.tar \
      --key 'pkcs11:token=release;object=targets?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/hsm-pin'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := tuf.ValidRepoName(repo); err != nil {
				return fmt.Errorf("--repo: %w", err)
			}
			if expires <= 0 {
				return fmt.Errorf("--expires: %s must be positive", expires)
			}
			place, err := parsePlacement(loc, locURL)
			if err != nil {
				return err
			}
			dsse, pub, err := key.load()
			if err != nil {
				return err
			}
			if _, _, err := tuf.KeyFromEnvelope(pub); err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			signer := tuf.EnvelopeSigner(dsse)
			src := args[0]
			if place != nil {
				switch {
				case src == "-":
					path, done, err := spoolStdin(cmd.InOrStdin())
					if err != nil {
						return fmt.Errorf("REF: %w", err)
					}
					defer done()
					src = path
				case strings.Contains(src, "://"):
					return fmt.Errorf("--location: places a file or stdin artifact, not %s", src)
				}
			}
			ro := ref.options(cmd)
			ro.Algorithms = tuf.TargetAlgorithms
			art, err := client.Resolve(cmd.Context(), src, ro)
			if err != nil {
				return resolveError(fmt.Errorf("REF: %w", err))
			}
			var claimURI string
			var placed []string
			if place != nil {
				if claimURI, placed, err = place.place(cmd.Context(), src, name, art.Size, art.Digests); err != nil {
					return err
				}
			}
			tf, err := tuf.NewTargetFile(art.Size, art.Digests, nil)
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				cur, err := currentMetadata(ctx, c, repo, role)
				if err != nil {
					return err
				}
				md, err := tuf.AddTarget(cur, name, tf, time.Now().Add(expires))
				if err != nil {
					return fmt.Errorf("--name: %w", err)
				}
				doc, err := tuf.Sign(md, signer)
				if err != nil {
					return err
				}
				resp, err := c.TUF.UploadMetadata(ctx, &trustv1.UploadMetadataRequest{Repo: repo, Role: role, Metadata: doc})
				if err != nil {
					return err
				}
				if err := g.printResult(cmd, resp.GetResult()); err != nil || place == nil {
					return err
				}
				return claimLocation(ctx, cmd, g, c, dsse, envelope.Subject{Name: name, Digests: art.Digests}, claimURI, placed)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&repo, "repo", "", "TUF repository (e.g. acme/images)")
	fl.StringVar(&name, "name", "", "target path in the repository (e.g. app/app-1.0.tar.gz)")
	fl.StringVar(&role, "role", "targets", "targets role to add the target to (targets or a delegated role)")
	fl.DurationVar(&expires, "expires", 90*24*time.Hour, "lifetime of the new role version")
	fl.StringVar(&loc, "location", "", "also place the bytes in this directory (with --location-url) or OCI repository oci://HOST/REPO, and claim the location (default: neither)")
	fl.StringVar(&locURL, "location-url", "", "the https URL a --location directory is served at (default none; required with a directory)")
	key.flags(cmd)
	ref.add(fl)
	_ = cmd.MarkFlagRequired("repo")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newTUFStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status REPO",
		Short: "Show a repository's published versions, expiries and pending proposals",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				st, err := c.TUF.GetStatus(ctx, &trustv1.GetStatusRequest{Repo: args[0]})
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), st)
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "repository %s\n", st.GetRepo())
				roles := append([]*trustv1.TUFRoleStatus{st.GetRoot(), st.GetTimestamp(), st.GetSnapshot()}, st.GetTargets()...)
				for _, r := range roles {
					if r == nil {
						continue
					}
					fmt.Fprintf(w, "  %-10s v%d", r.GetRole(), r.GetVersion())
					if r.GetExpires() != nil {
						fmt.Fprintf(w, "  expires %s", ts(r.GetExpires().AsTime()))
					}
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "pending: %d\n", len(st.GetPending()))
				for _, p := range st.GetPending() {
					printPending(w, p)
				}
				return nil
			})
		},
	}
}

func newTUFSignPendingCmd(g *globals) *cobra.Command {
	var (
		role, file, proposal string
		version              int64
		key                  signingKey
	)
	cmd := &cobra.Command{
		Use:   "sign-pending REPO --role ROLE --version N --key KEY [--proposal DIGEST]",
		Short: "Add your signature to a pending proposal (or to a root file from 'tuf init --out')",
		Long: `sign-pending fetches the pending proposal for ROLE at version N, signs its signed
part with --key on this machine and sends the signature; trustd publishes the
proposal once its thresholds are met. Several proposals may be pending for one
role and version: --proposal names one by its signed digest (or a prefix of 8
or more hex digits) as 'trustctl tuf status' shows it. With --file, it signs a
metadata file instead (e.g. a root written by 'tuf init --out') and writes it
back, without contacting the server.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			signer, _, err := key.tufSigner()
			if err != nil {
				return err
			}
			if file != "" {
				doc, err := readBounded(file, maxMetadataFile)
				if err != nil {
					return fmt.Errorf("--file: %w", err)
				}
				merged, err := addSignature(doc, signer)
				if err != nil {
					return fmt.Errorf("--file %s: %w", file, err)
				}
				if err := os.WriteFile(file, merged, 0o644); err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), fileWritten{File: file, Bytes: len(merged)})
				}
				return nil
			}
			if role == "" || version < 1 {
				return errors.New("--role and --version: both are required (see 'trustctl tuf status')")
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				res, err := signPending(ctx, c, args[0], role, version, proposal, signer)
				if err != nil {
					return err
				}
				return g.printResult(cmd, res)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&role, "role", "", "role of the pending proposal")
	fl.Int64Var(&version, "version", 0, "version of the pending proposal")
	fl.StringVar(&proposal, "proposal", "", "signed digest (or a prefix of 8+ hex digits) of the proposal to sign (default: the only one pending for ROLE and N)")
	fl.StringVar(&file, "file", "", "sign this metadata file in place instead of a pending proposal on the server")
	key.flags(cmd)
	return cmd
}

// signPending fetches the pending proposal for role at version that
// proposal names (a signed digest or a prefix; empty: the only one), signs
// its signed part with signer on this machine and sends the signature for
// exactly that proposal (by its full signed digest).
func signPending(ctx context.Context, c *client.Client, repo, role string, version int64, proposal string, signer signature.Signer) (*trustv1.TUFResult, error) {
	resp, err := c.TUF.GetMetadata(ctx, &trustv1.GetMetadataRequest{Repo: repo, Name: fmt.Sprintf("%d.%s.json", version, role), Pending: true, Proposal: proposal})
	if err != nil {
		return nil, err
	}
	digest, err := tuf.ProposalDigest(resp.GetData())
	if err != nil {
		return nil, fmt.Errorf("pending %s v%d of %s: %w", role, version, repo, err)
	}
	if !strings.HasPrefix(digest, strings.ToLower(proposal)) {
		return nil, fmt.Errorf("pending %s v%d of %s: trustd sent a proposal with signed digest %s, not %s", role, version, repo, digest, proposal)
	}
	sigs, err := tuf.SignatureFor(resp.GetData(), signer)
	if err != nil {
		return nil, err
	}
	req := &trustv1.AddSignaturesRequest{Repo: repo, Role: role, Version: version, Proposal: digest}
	for _, s := range sigs {
		req.Signatures = append(req.Signatures, &trustv1.TUFSignature{KeyId: s.KeyID, Sig: s.Signature})
	}
	out, err := c.TUF.AddSignatures(ctx, req)
	if err != nil {
		return nil, err
	}
	return out.GetResult(), nil
}

// addSignature adds signer's signature to a metadata document.
func addSignature(doc []byte, signer signature.Signer) ([]byte, error) {
	sigs, err := tuf.SignatureFor(doc, signer)
	if err != nil {
		return nil, err
	}
	var raw struct {
		Signed     json.RawMessage  `json:"signed"`
		Signatures []map[string]any `json:"signatures"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, err
	}
	for _, s := range sigs {
		raw.Signatures = append(raw.Signatures, map[string]any{"keyid": s.KeyID, "sig": fmt.Sprintf("%x", []byte(s.Signature))})
	}
	return json.Marshal(raw)
}

func newTUFUploadCmd(g *globals) *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:   "upload REPO FILE --role ROLE",
		Short: "Upload signed metadata prepared elsewhere (root v1 from 'tuf init --out' creates the repository)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := readBounded(args[1], maxMetadataFile)
			if err != nil {
				return fmt.Errorf("FILE: %w", err)
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				var h struct {
					Signed struct {
						Type    string `json:"_type"`
						Version int64  `json:"version"`
					} `json:"signed"`
				}
				if json.Unmarshal(doc, &h) == nil && h.Signed.Type == metadata.ROOT && h.Signed.Version == 1 && role == metadata.ROOT {
					resp, err := c.TUF.InitRepo(ctx, &trustv1.InitRepoRequest{Repo: args[0], Root: doc})
					if err != nil {
						return err
					}
					return g.printResult(cmd, resp.GetResult())
				}
				resp, err := c.TUF.UploadMetadata(ctx, &trustv1.UploadMetadataRequest{Repo: args[0], Role: role, Metadata: doc})
				if err != nil {
					return err
				}
				return g.printResult(cmd, resp.GetResult())
			})
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "role of the metadata: root, targets or a delegated role")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func newTUFDelegateCmd(g *globals) *cobra.Command {
	var (
		to, from    string
		keyFiles    []string
		paths       []string
		threshold   int
		bins        int
		terminating bool
		expires     time.Duration
		key         signingKey
	)
	cmd := &cobra.Command{
		Use:   "delegate REPO --to ROLE --key-file PUB... --threshold N (--paths P... | --hashed-bins BITS) --key KEY",
		Short: "Delegate target paths or hashed bins from a targets role to another role",
		Long: `delegate publishes the next version of --from (default targets) with a
delegation to role --to: its keys (--key-file, public halves), threshold,
and either path patterns (--paths, shell-style, e.g. 'rel/*') or hashed bins
(--hashed-bins BITS: 2^BITS roles named TO-XX sharing the keys).
--terminating stops clients from looking further for paths it matches.
Signed by --key, which must be a key of --from.`,
		Example: `  trustctl tuf delegate acme/images --to releases --key-file rel.pem.pub --threshold 1 \
      --paths 'rel/*' --key targets.pem`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(paths) == 0) == (bins == 0) {
				return errors.New("--paths or --hashed-bins: give exactly one")
			}
			if threshold < 1 || threshold > len(keyFiles) {
				return fmt.Errorf("--threshold: %d must be between 1 and the number of --key-file (%d)", threshold, len(keyFiles))
			}
			ks, err := loadKeyFiles("--key-file", keyFiles, key)
			if err != nil {
				return err
			}
			signer, _, err := key.tufSigner()
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				cur, err := currentMetadata(ctx, c, args[0], from)
				if err != nil {
					return err
				}
				md, err := tuf.NextTargets(cur, time.Now().Add(expires))
				if err != nil {
					return err
				}
				if bins > 0 {
					d, err := tuf.HashedBins(to, bins, keySet(ks, threshold))
					if err != nil {
						return fmt.Errorf("--hashed-bins: %w", err)
					}
					md.Signed.Delegations = d
				} else {
					d := md.Signed.Delegations
					if d == nil || d.SuccinctRoles != nil {
						d = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
					}
					role := metadata.DelegatedRole{Name: to, Threshold: threshold, Paths: paths, Terminating: terminating}
					for _, k := range ks {
						d.Keys[k.id] = k.key
						role.KeyIDs = append(role.KeyIDs, k.id)
					}
					kept := d.Roles[:0]
					for _, r := range d.Roles {
						if r.Name != to {
							kept = append(kept, r)
						}
					}
					d.Roles = append(kept, role)
					md.Signed.Delegations = d
				}
				doc, err := tuf.Sign(md, signer)
				if err != nil {
					return err
				}
				resp, err := c.TUF.UploadMetadata(ctx, &trustv1.UploadMetadataRequest{Repo: args[0], Role: from, Metadata: doc})
				if err != nil {
					return err
				}
				return g.printResult(cmd, resp.GetResult())
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&to, "to", "", "delegated role name (name prefix of the bins with --hashed-bins)")
	fl.StringVar(&from, "from", "targets", "delegating targets role")
	fl.StringArrayVar(&keyFiles, "key-file", nil, "public key file of the delegated role; repeatable")
	fl.IntVar(&threshold, "threshold", 1, "signatures the delegated role needs")
	fl.StringArrayVar(&paths, "paths", nil, "path pattern delegated; repeatable")
	fl.IntVar(&bins, "hashed-bins", 0, "delegate to 2^BITS hashed bins instead of paths")
	fl.BoolVar(&terminating, "terminating", false, "clients stop at this delegation for matching paths")
	fl.DurationVar(&expires, "expires", 90*24*time.Hour, "lifetime of the new --from version")
	key.flags(cmd)
	_ = cmd.MarkFlagRequired("to")
	_ = cmd.MarkFlagRequired("key-file")
	return cmd
}
