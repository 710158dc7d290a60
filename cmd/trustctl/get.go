package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/client"
	bytefetch "github.com/trustd-dev/trustd/client/fetch"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/cliutil"
	"github.com/trustd-dev/trustd/policy"
)

// getJSON is trustctl get's --output json.
type getJSON struct {
	Digest    string          `json:"digest"`
	Path      string          `json:"path"`
	Size      int64           `json:"size"`
	Digests   []string        `json:"digests"`
	Location  getLocationJSON `json:"location"`
	Failures  []getFailure    `json:"failures"`
	Resumes   int             `json:"resumes"`
	Verdict   json.RawMessage `json:"verdict"`
	Committed bool            `json:"written"`
}

type getLocationJSON struct {
	URL     string `json:"url"`
	Kind    string `json:"kind"`
	Claimer string `json:"claimer"`
}

type getFailure struct {
	getLocationJSON
	Error string `json:"error"`
}

func locJSON(l bytefetch.Location) getLocationJSON {
	return getLocationJSON{URL: l.URL, Kind: string(l.Kind), Claimer: l.Claimer}
}

func newGetCmd(g *globals) *cobra.Command {
	var (
		out, caFile            string
		mirrors, allowHTTP     bool
		allowNets              []string
		maxBytes               int64
		policyFile, policyName string
		lf                     logFlags
	)
	cmd := &cobra.Command{
		Use:   "get HASH-TYPE:HEX|MULTIHASH [--out FILE] [--mirrors] [--policy FILE]",
		Short: "Fetch an artifact by any of its digests from where it is claimed to be, and validate it",
		Long: `get asks trustd where the artifact with this digest is stored (location
claims: the publisher's own, and with --mirrors anyone else's), fetches it
from the first location that delivers, and checks the bytes before writing
anything: they must have the digest asked for, the sha256 and other digests
the publisher links to it, and the publisher's TUF target length (no more
bytes are read). Any digest works, sha512 or a multihash included, even
when the registry holding the bytes addresses them by sha256 only: the
publisher's alias links the two, and the bytes are checked against the
digest asked for, so no alias claim can make get return other bytes.

Locations are tried in order, the publisher's first, then mirrors (only
with --mirrors: anyone can claim to mirror anything); any error moves on
to the next (a refused connection, an HTTP error, bytes that do not
match). A transfer that breaks is resumed on the same location with an
HTTP Range request (If-Range guards against a file that changed). The
bytes go to a temporary file beside --out, are synced and renamed into
place only once they validate; without --out they are written to standard
output once validated.

Locations are untrusted: only https URLs and OCI registries over https are
contacted, never a loopback, private, link-local or otherwise non-public
address (checked on the address actually dialled, so neither DNS nor a
redirect can point get at an internal service), and redirects are capped.
--allow-http-unsafe and --allow-network-unsafe lift this for tests and
private mirrors.

With --policy the fetched bytes are then judged by the same verification
as 'trustctl verify' (online, one evidence call), as the location they
came from; --out is written only when the policy passes.

Exit codes: 0 fetched (and the policy passed), 1 the policy failed, 2
could not fetch or decide (no location, every location failed or served
other bytes, bad input, unreachable server).`,
		Example: `  trustctl get sha512:1f40fc92… --out app.tar.gz
  trustctl get sha256:9f86d081… --mirrors --out app.tar.gz --policy deploy.yaml
  trustctl get bEiCgOTx… -o json --out app.tar.gz > fetched.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// get keeps about a megabyte live however large the artifact:
			// collect early rather than let the heap double before a GC.
			debug.SetGCPercent(20)
			want, err := digest.Parse(args[0])
			if err != nil {
				return &cliutil.ExitError{Code: cliutil.ExitFailure, Err: err}
			}
			var p *policy.Policy
			if policyFile != "" {
				if _, p, err = loadPolicy(policyFile, policyName); err != nil {
					return err
				}
			}
			opts := bytefetch.Options{Out: out, Mirrors: mirrors, AllowHTTPUnsafe: allowHTTP, MaxBytes: maxBytes,
				Progress: client.TerminalProgress(os.Stderr)}
			for _, n := range allowNets {
				pfx, err := netip.ParsePrefix(n)
				if err != nil {
					return fmt.Errorf("--allow-network-unsafe %q: want a CIDR prefix such as 127.0.0.1/32: %w", n, err)
				}
				opts.AllowNetworksUnsafe = append(opts.AllowNetworksUnsafe, pfx)
			}
			if caFile != "" {
				if opts.ExtraRootCAs, err = certPool(caFile); err != nil {
					return err
				}
			}
			stdout := out == ""
			if stdout {
				dir, err := os.MkdirTemp("", "trustctl-get-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				opts.Out = filepath.Join(dir, want.Hex())
			}
			c, err := client.New(g.server, g.tls)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetMinLSN(g.minLSN)
			ctx := cmd.Context()
			opts.Source = timedSource{src: c.LocationSource(), timeout: g.timeout}
			var verdict *policy.Verdict
			if p != nil {
				vo := client.VerifyOptions{Policy: p, Client: c, TokenKeys: serverTokenKey{c}}
				if st, _, err := lf.load(g.server); err == nil {
					vo.LogKey = st.VerifierKey
				} else if lf.key != "" || lf.state != "" {
					return err
				}
				opts.Check = func(ctx context.Context, path string, r *bytefetch.Result) error {
					vo.ResourceURI = r.Location.URL
					vctx, cancel := context.WithTimeout(ctx, g.timeout)
					defer cancel()
					res, err := client.Verify(vctx, path, vo)
					if err != nil {
						return resolveError(err)
					}
					verdict = &res.Verdict
					return verdictExit(res.Verdict)
				}
			}
			res, err := bytefetch.Get(ctx, want, opts)
			if err != nil && verdict == nil {
				if res != nil && g.output == "json" {
					_ = writeGetJSON(cmd.OutOrStdout(), want, res, nil, false)
				}
				var ee *cliutil.ExitError
				if errors.As(err, &ee) {
					return err
				}
				return &cliutil.ExitError{Code: cliutil.ExitFailure, Err: err}
			}
			committed := err == nil
			if stdout && committed {
				if err := copyFile(cmd.OutOrStdout(), opts.Out); err != nil {
					return err
				}
				res.Path = "-"
			}
			w := cmd.OutOrStdout()
			if stdout {
				w = cmd.ErrOrStderr()
			}
			if g.output == "json" {
				if werr := writeGetJSON(w, want, res, verdict, committed); werr != nil {
					return werr
				}
			} else {
				writeGetText(w, want, res, verdict, committed)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "file to write the validated bytes to (default: standard output, once validated)")
	f.BoolVar(&mirrors, "mirrors", false, "also try mirrors (locations claimed by keys other than the publisher's), after the publisher's own")
	f.StringVar(&caFile, "blob-ca", "", "PEM CA certificates to trust for https locations and registries, besides the system's")
	f.Int64Var(&maxBytes, "max-bytes", bytefetch.DefaultMaxBytes, "size cap when no publisher's TUF target states the length")
	f.BoolVar(&allowHTTP, "allow-http-unsafe", false, "also accept plain http locations and registries (loopback tests)")
	f.StringArrayVar(&allowNets, "allow-network-unsafe", nil, "CIDR prefix of a non-public network locations may reach, e.g. 127.0.0.1/32 (repeatable; default none)")
	f.StringVar(&policyFile, "policy", "", "policy file: judge the fetched bytes as 'trustctl verify' does (default: no verdict)")
	f.StringVar(&policyName, "policy-name", "", "the policy to enforce; may be omitted when the file holds one")
	f.StringVar(&lf.key, "log-key", "", "with --policy: the log's note verifier key the evidence must be proven under (default: the key 'trustctl log' pinned for this server, else the key trustd names)")
	f.StringVar(&lf.state, "log-state", "", "with --policy: the 'trustctl log' state file with the pinned log key (default: per server, used when it exists)")
	return cmd
}

// timedSource bounds the location lookup by --timeout; the transfer that
// follows is not bounded (an artifact may be large).
type timedSource struct {
	src     bytefetch.LocationSource
	timeout time.Duration
}

func (s timedSource) Locations(ctx context.Context, d digest.Digest) ([]bytefetch.Location, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.src.Locations(ctx, d)
}

// certPool holds the PEM certificates in file, trusted besides the
// system roots (which fetch loads only for a server these do not verify).
func certPool(file string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	pem, err := readBounded(file, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("--blob-ca: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--blob-ca %s: no PEM certificates in it", file)
	}
	return pool, nil
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func writeGetJSON(w io.Writer, want digest.Digest, r *bytefetch.Result, v *policy.Verdict, committed bool) error {
	o := getJSON{Digest: want.String(), Path: r.Path, Size: r.Size, Digests: []string{}, Location: locJSON(r.Location),
		Failures: []getFailure{}, Resumes: r.Resumes, Committed: committed}
	for _, d := range r.Digests {
		o.Digests = append(o.Digests, d.String())
	}
	for _, fl := range r.Failures {
		o.Failures = append(o.Failures, getFailure{getLocationJSON: locJSON(fl.Location), Error: fl.Err.Error()})
	}
	if v != nil {
		var b bytes.Buffer
		if err := v.WriteJSON(&b); err != nil {
			return err
		}
		o.Verdict = bytes.TrimSpace(b.Bytes())
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(o)
}

func writeGetText(w io.Writer, want digest.Digest, r *bytefetch.Result, v *policy.Verdict, committed bool) {
	for _, fl := range r.Failures {
		fmt.Fprintf(w, "skipped %s (%s, %s): %v\n", fl.Location.URL, fl.Location.Kind, claimer(fl.Location), fl.Err)
	}
	if v != nil {
		_ = v.WriteText(w)
	}
	if !committed {
		fmt.Fprintf(w, "%s: not written\n", want)
		return
	}
	fmt.Fprintf(w, "%s: %d bytes from %s (%s, %s) to %s", want, r.Size, r.Location.URL, r.Location.Kind, claimer(r.Location), r.Path)
	if r.Resumes > 0 {
		fmt.Fprintf(w, ", resumed %d times", r.Resumes)
	}
	fmt.Fprintln(w)
	for _, d := range r.Digests {
		fmt.Fprintf(w, "  %s\n", d)
	}
}

func claimer(l bytefetch.Location) string {
	if l.Claimer == "" {
		return "unknown key"
	}
	return l.Claimer
}
