package main

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/cliutil"
	"github.com/trustd-dev/trustd/location"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

func newLocationsCmd(g *globals) *cobra.Command {
	var sharedWith, as string
	var pageSize uint32
	var pageToken string
	cmd := &cobra.Command{
		Use:   "locations DIGEST | --shared-with KEY --as KEY",
		Short: "List where the bytes of a digest can be fetched, or the content two vendors both hold",
		Long: `locations asks trustd where the artifact with DIGEST can be fetched, from the
location claims vendors and publishers signed ('trustctl location add',
'trustctl sign --location'). One line per location, authoritative ones (claimed
by a publisher of the digest) first, then mirrors (anyone else's):
  KIND URI  claimed by KEY (LABEL), log entry SEQ[, via alias DIGEST]
followed by the addresses to fetch (a directory serves the file under TUF
consistent-snapshot names, one per digest). Claims naming another digest
count only when an alias claim by the digest's publisher links it. A
withdrawn (revoked) claim is not listed. A location is no evidence that the
bytes are genuine: whatever is fetched must be checked against DIGEST. The
publisher's TUF target length, when there is one, caps a transfer.

With --shared-with KEY --as KEY (key ids or labels), it lists instead the
digests both keys claim a location of: the content two vendors both hold.

With --output json, the GetLocations (or ListSharedLocations) response.

DIGEST is algorithm:hex (e.g. sha256:…) or a multibase multihash string.
Exit code 1 means no location is known.`,
		Example: `  trustctl locations sha512:…
  trustctl locations -o json sha256:…
  trustctl locations --shared-with mirror-b --as mirror-a`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sharedWith != "" || as != "" {
				if len(args) != 0 || sharedWith == "" || as == "" {
					return errors.New("--shared-with and --as: give both, and no DIGEST")
				}
				return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
					resp, err := c.Locations().ListSharedLocations(ctx, &trustv1.ListSharedLocationsRequest{KeyA: as, KeyB: sharedWith,
						PageSize: pageSize, PageToken: pageToken})
					if err != nil {
						return err
					}
					if g.output == "json" {
						return printJSON(cmd.OutOrStdout(), resp)
					}
					w := cmd.OutOrStdout()
					for _, d := range resp.GetDigests() {
						fmt.Fprintln(w, d)
					}
					if t := resp.GetNextPageToken(); t != "" {
						fmt.Fprintf(w, "more: --page-token %s\n", t)
					}
					if len(resp.GetDigests()) == 0 {
						return cliutil.Negative(fmt.Errorf("%s and %s hold no content in common", as, sharedWith))
					}
					return nil
				})
			}
			if len(args) != 1 {
				return errors.New("DIGEST is required (or --shared-with and --as)")
			}
			d, err := parseDigestArg(args[0])
			if err != nil {
				return err
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.GetLocations(ctx, d.String())
				if err != nil {
					return err
				}
				if g.output == "json" {
					if err := printJSON(cmd.OutOrStdout(), resp); err != nil {
						return err
					}
				} else {
					printLocations(cmd.OutOrStdout(), resp)
				}
				if len(resp.GetLocations()) == 0 {
					return cliutil.Negative(fmt.Errorf("no location known for %s", d))
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&sharedWith, "shared-with", "", "list the digests this key (id or label) and --as both claim a location of (default none)")
	fl.StringVar(&as, "as", "", "the other key (id or label) of --shared-with, e.g. your own (default none)")
	fl.Uint32Var(&pageSize, "page-size", 0, "digests per page with --shared-with (default 0: the server's, 100)")
	fl.StringVar(&pageToken, "page-token", "", "continue a --shared-with listing (default: from the start)")
	return cmd
}

var locationKindNames = map[trustv1.LocationKind]string{
	trustv1.LocationKind_LOCATION_KIND_AUTHORITATIVE: "authoritative",
	trustv1.LocationKind_LOCATION_KIND_MIRROR:        "mirror",
}

func printLocations(w io.Writer, r *trustv1.GetLocationsResponse) {
	fmt.Fprintf(w, "%s\n", r.GetDigest())
	if len(r.GetDigests()) > 1 {
		fmt.Fprintf(w, "  also addressed by (publisher's aliases): %s\n", strings.Join(r.GetDigests()[1:], ", "))
	}
	if r.GetLength() > 0 {
		fmt.Fprintf(w, "  length %d bytes (TUF %s)\n", r.GetLength(), r.GetLengthSource())
	}
	for _, l := range r.GetLocations() {
		who := l.GetKeyId()
		if l.GetKeyLabel() != "" {
			who += " (" + l.GetKeyLabel() + ")"
		}
		fmt.Fprintf(w, "%s %s  claimed by %s, log entry %d", locationKindNames[l.GetKind()], l.GetUri(), who, l.GetSeq())
		if l.GetViaAlias() != "" {
			fmt.Fprintf(w, ", via alias %s", l.GetViaAlias())
		}
		fmt.Fprintln(w)
		for _, u := range l.GetUrls() {
			if u != l.GetUri() {
				fmt.Fprintf(w, "    %s\n", u)
			}
		}
	}
	if r.GetTruncated() {
		fmt.Fprintln(w, "(more claims exist than were read)")
	}
}

func newLocationCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "location",
		Short: "Claim where an artifact's bytes can be fetched",
	}
	cmd.AddCommand(newLocationAddCmd(g))
	return cmd
}

func newLocationAddCmd(g *globals) *cobra.Command {
	var (
		key signingKey
		out string
	)
	cmd := &cobra.Command{
		Use:   "add [NAME=]DIGEST[,DIGEST...] LOCATION --key KEY",
		Short: "Sign and submit a location claim: the artifact with these digests is at LOCATION",
		Long: `location add signs, with --key (a registered key), a location claim
(predicate type ` + location.PredicateType + `) saying that the artifact with
the digests is available at LOCATION, and submits it. LOCATION is one of:
  oci://HOST[:PORT]/REPO@sha256:HEX   a blob in an OCI repository (its digest
                                      one of the artifact's)
  https://HOST/PATH                   the file itself
  https://HOST/PREFIX/                a directory or bucket prefix holding the
                                      file under TUF consistent-snapshot names,
                                      PREFIX/DIR/HEX.BASE of NAME for each of
                                      its sha256 and sha512 digests
trustd accepts only https and oci locations, and no loopback, link-local or
private addresses, unless its operator allows them; it keeps at most
--max-locations-per-digest claims per digest (the publisher's always).
The claim is authoritative when --key publishes the artifact, a mirror
otherwise. Withdraw it with 'trustctl revoke statement ENVELOPE_DIGEST'.`,
		Example: `  trustctl location add app.tar.gz=sha256:…,sha512:… https://mirror.example.com/targets/ --key vendor.pem
  trustctl location add sha256:… oci://registry.example.com/acme/app@sha256:… --key vendor.pem`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			subj, err := parseSubjectFlag(args[0])
			if err != nil {
				return err
			}
			if err := location.CheckURI(args[1], subj.Digests, location.Rules{AllowHTTP: true, AllowPrivate: true}); err != nil {
				return fmt.Errorf("LOCATION: %w", err)
			}
			signer, _, err := key.load()
			if err != nil {
				return err
			}
			payload, err := locationStatement(subj, args[1])
			if err != nil {
				return err
			}
			return signAndSubmit(cmd, g, signer, payload, out)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the signed envelope here (- for stdout) instead of submitting (default: submit)")
	key.flags(cmd)
	return cmd
}

// locationStatement is the in-toto statement of a location claim.
func locationStatement(subj envelope.Subject, uri string) ([]byte, error) {
	p, err := json.Marshal(location.Predicate{URI: uri})
	if err != nil {
		return nil, err
	}
	return envelope.NewStatement(location.PredicateType, p, subj)
}

// placement is where 'trustctl sign --location' puts the bytes: a local
// directory served at a URL, or an OCI repository.
type placement struct {
	dir, url string
	repo     string // host/repo of oci://host/repo
}

// parsePlacement reads --location and --location-url.
func parsePlacement(loc, locURL string) (*placement, error) {
	if loc == "" {
		if locURL != "" {
			return nil, errors.New("--location-url: only with --location DIR")
		}
		return nil, nil
	}
	if repo, ok := strings.CutPrefix(loc, "oci://"); ok {
		if locURL != "" {
			return nil, errors.New("--location-url: only with --location DIR, not an OCI repository")
		}
		if strings.Contains(repo, "@") {
			return nil, fmt.Errorf("--location: %s names a repository, without tag or digest: oci://HOST/REPO", loc)
		}
		if _, err := name.NewRepository(repo, name.StrictValidation); err != nil {
			return nil, fmt.Errorf("--location: %w", err)
		}
		return &placement{repo: repo}, nil
	}
	if strings.Contains(loc, "://") {
		return nil, fmt.Errorf("--location: %s is neither a directory nor oci://HOST/REPO", loc)
	}
	fi, err := os.Stat(loc)
	if err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("--location: %s is not a directory", loc)
	}
	if locURL == "" {
		return nil, errors.New("--location-url: required with --location DIR: the https URL the directory is served at")
	}
	if !strings.HasSuffix(locURL, "/") {
		locURL += "/"
	}
	return &placement{dir: loc, url: locURL}, nil
}

// place puts the artifact's bytes (the file src, of digests ds and size)
// where p says and returns the location to claim: for a directory,
// DIR/DIRNAME/SHA256HEX.BASE and DIR/DIRNAME/SHA512HEX.BASE of target name
// (what a TUF client with consistent snapshots fetches, by either hash);
// for an OCI repository, the blob pushed by its sha256.
func (p *placement) place(ctx context.Context, src, target string, size int64, ds []digest.Digest) (string, []string, error) {
	var d256, d512 digest.Digest
	for _, d := range ds {
		switch d.Algorithm() {
		case digest.SHA256:
			d256 = d
		case digest.SHA512:
			d512 = d
		}
	}
	if d256.IsZero() || d512.IsZero() {
		return "", nil, errors.New("--location: the artifact's sha256 and sha512 are needed")
	}
	if p.repo != "" {
		if err := pushBlob(ctx, p.repo, src, size, d256); err != nil {
			return "", nil, err
		}
		uri := "oci://" + p.repo + "@" + d256.String()
		return uri, []string{uri}, nil
	}
	var placed []string
	first := ""
	for _, d := range []digest.Digest{d256, d512} {
		dst := filepath.Join(p.dir, filepath.FromSlash(location.TargetFile(target, d)))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", nil, fmt.Errorf("--location: %w", err)
		}
		if first != "" && os.Link(first, dst+".tmp") == nil {
			if err := os.Rename(dst+".tmp", dst); err != nil {
				return "", nil, fmt.Errorf("--location: %w", err)
			}
		} else if err := copyVerified(src, dst, size, d256, d512); err != nil {
			return "", nil, err
		}
		first = dst
		placed = append(placed, dst)
	}
	return p.url, placed, nil
}

// copyVerified copies src to dst through a temporary file beside it,
// checking the bytes copied against size and both digests before the
// rename, so dst never holds other bytes.
func copyVerified(src, dst string, size int64, d256, d512 digest.Digest) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("--location: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".trustctl-place-*")
	if err != nil {
		return fmt.Errorf("--location: %w", err)
	}
	defer os.Remove(tmp.Name())
	h256, h512 := sha256.New(), sha512.New()
	n, err := io.Copy(io.MultiWriter(tmp, h256, h512), in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--location: copy to %s: %w", dst, err)
	}
	if n != size || !sumIs(h256, d256) || !sumIs(h512, d512) {
		return fmt.Errorf("--location: %s changed while it was signed: not placed", src)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("--location: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("--location: %w", err)
	}
	return nil
}

func sumIs(h hash.Hash, d digest.Digest) bool { return hex.EncodeToString(h.Sum(nil)) == d.Hex() }

// fileBlob is a file pushed as an OCI blob, read when the push streams it.
type fileBlob struct {
	path string
	size int64
	d    digest.Digest
}

func (b fileBlob) Digest() (v1.Hash, error) { return v1.Hash{Algorithm: "sha256", Hex: b.d.Hex()}, nil }
func (b fileBlob) Compressed() (io.ReadCloser, error) {
	return os.Open(b.path)
}
func (b fileBlob) Size() (int64, error)                { return b.size, nil }
func (b fileBlob) MediaType() (types.MediaType, error) { return "application/octet-stream", nil }

// pushBlob uploads the file as a blob of repo (the registry checks its
// sha256).
func pushBlob(ctx context.Context, repo, src string, size int64, d digest.Digest) error {
	r, err := name.NewRepository(repo, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("--location: %w", err)
	}
	layer, err := partial.CompressedToLayer(fileBlob{path: src, size: size, d: d})
	if err != nil {
		return fmt.Errorf("--location: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := remote.WriteLayer(r, layer, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("--location: push to %s: %w", repo, err)
	}
	return nil
}

// spoolStdin copies standard input to a temporary file (removed by the
// returned function), so bytes read once can be hashed, then placed.
func spoolStdin(in io.Reader) (string, func(), error) {
	f, err := os.CreateTemp("", "trustctl-sign-*")
	if err != nil {
		return "", nil, err
	}
	done := func() { os.Remove(f.Name()) }
	if _, err := io.Copy(f, in); err != nil {
		f.Close()
		done()
		return "", nil, fmt.Errorf("read stdin: %w", err)
	}
	if err := f.Close(); err != nil {
		done()
		return "", nil, err
	}
	return f.Name(), done, nil
}

// claimLocation signs and submits the location claim of subj at uri after
// 'trustctl sign --location' placed the bytes (at placed, for a
// directory), and reports both: on standard output as text, on standard
// error beside --output json (whose document is the TUF result).
func claimLocation(ctx context.Context, cmd *cobra.Command, g *globals, c *client.Client, signer envelope.Signer, subj envelope.Subject, uri string, placed []string) error {
	payload, err := locationStatement(subj, uri)
	if err != nil {
		return err
	}
	raw, err := signInToto(ctx, signer, payload)
	if err != nil {
		return err
	}
	resp, err := c.Statements.Submit(ctx, &trustv1.SubmitRequest{Envelope: raw})
	if err != nil {
		return fmt.Errorf("location claim of %s (the bytes are placed): %w", uri, err)
	}
	w := cmd.OutOrStdout()
	if g.output == "json" {
		w = cmd.ErrOrStderr()
	}
	for _, p := range placed {
		fmt.Fprintf(w, "placed %s\n", p)
	}
	fmt.Fprintf(w, "location %s claimed: log entry %d\n", uri, resp.GetEntry().GetSeq())
	return nil
}
