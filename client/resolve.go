package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/refname"
)

// Kinds of artifact reference Resolve accepts.
const (
	KindFile  = "file"
	KindStdin = "stdin"
	KindHTTPS = "https"
	KindOCI   = "oci"
)

// Resolver errors callers branch on.
var (
	// ErrBadRef: the reference is none of the accepted forms.
	ErrBadRef = errors.New("not an artifact reference")
	// ErrDigestMismatch: bytes fetched do not hash to the digest that
	// names them (a tampered registry blob or manifest).
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrUnreadable: the bytes could not be read (missing file, network
	// error, HTTP or registry error).
	ErrUnreadable = errors.New("artifact unreadable")
)

// MaxManifestBytes bounds an OCI manifest or index read.
const MaxManifestBytes = 4 << 20

// ResolveOptions configure Resolve.
type ResolveOptions struct {
	// Algorithms to compute over the bytes; empty means sha256 only. For
	// OCI references they are computed over the manifest.
	Algorithms []digest.Algorithm
	// Layers makes an OCI resolve fetch the config and every layer (or
	// every child manifest of an index) and check each against its digest.
	Layers bool
	// Stdin is read for "-"; nil means os.Stdin.
	Stdin io.Reader
	// HTTPClient fetches https references; nil means one trusting the
	// system roots (and CAFile).
	HTTPClient *http.Client
	// CAFile adds PEM roots for https references and registries.
	CAFile string
	// Remote are extra go-containerregistry options (auth, transport).
	Remote []remote.Option
	// Progress, when set, is told the bytes read of each download.
	Progress Progress
}

// Progress reports a download: Start with a label and the expected size
// (-1 if unknown), Add as bytes arrive, Done at the end.
type Progress interface {
	Start(label string, size int64)
	Add(n int64)
	Done()
}

// Artifact is a resolved reference: where the bytes are and their digests,
// computed here from the bytes read.
type Artifact struct {
	Ref  string
	Kind string
	// Name is the artifact's short name: a file's base name, the URL
	// path's last element, or the OCI repository.
	Name string
	// ResourceURI names where the bytes were found (file://, https://,
	// oci://registry/repo:tag@digest, the tag as the reference gave it and
	// absent for a digest reference); refname.Normalize reads it as the
	// name being verified.
	ResourceURI string
	Size        int64
	// Digests are in the order of ResolveOptions.Algorithms.
	Digests []digest.Digest
	// Path is the local file for KindFile.
	Path string
	// OCI is set for KindOCI.
	OCI *OCIArtifact
}

// OCIArtifact describes a resolved OCI reference.
type OCIArtifact struct {
	Repository name.Repository
	// Digest is the manifest digest (sha256), which names the artifact.
	Digest    v1.Hash
	MediaType string
	// Checked lists the blobs or child manifests verified with --layers.
	Checked []string
	options []remote.Option
}

// SHA256 returns the artifact's sha256 digest.
func (a *Artifact) SHA256() digest.Digest {
	for _, d := range a.Digests {
		if d.Algorithm() == digest.SHA256 {
			return d
		}
	}
	return digest.Digest{}
}

// Resolve reads the artifact ref names, once, computing the asked digests:
// "-" is standard input, "https://…" a URL, an existing path a file, and
// anything else that parses as an OCI reference ("registry/repo:tag",
// "registry/repo@sha256:…", optionally prefixed "oci://") an image
// manifest, whose digest is checked against the registry's and the
// reference's.
func Resolve(ctx context.Context, ref string, opts ResolveOptions) (*Artifact, error) {
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = []digest.Algorithm{digest.SHA256}
	}
	switch {
	case ref == "":
		return nil, fmt.Errorf("client: resolve: %w: empty", ErrBadRef)
	case ref == "-":
		in := opts.Stdin
		if in == nil {
			in = os.Stdin
		}
		a := &Artifact{Ref: ref, Kind: KindStdin, Name: "-", ResourceURI: "stdin:"}
		return a, a.sum(ctx, in, opts, "stdin", -1)
	case strings.HasPrefix(ref, "https://"):
		return resolveHTTPS(ctx, ref, opts)
	case strings.HasPrefix(ref, "http://"):
		return nil, fmt.Errorf("client: resolve %s: %w: plain http is not accepted; use https", ref, ErrBadRef)
	case strings.HasPrefix(ref, "oci://"):
		return resolveOCI(ctx, ref, strings.TrimPrefix(ref, "oci://"), opts)
	}
	if fi, err := os.Stat(ref); err == nil {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("client: resolve %s: %w: not a regular file", ref, ErrBadRef)
		}
		return resolveFile(ctx, ref, fi.Size(), opts)
	}
	if looksLikeOCI(ref) {
		return resolveOCI(ctx, ref, ref, opts)
	}
	return nil, fmt.Errorf("client: resolve %s: %w: no such file, and not an https URL or registry/repo:tag reference", ref, ErrUnreadable)
}

// looksLikeOCI accepts references whose first element names a registry
// (has a dot or a port, or is localhost), so that a missing file is not
// mistaken for an image on Docker Hub.
func looksLikeOCI(ref string) bool {
	first, _, ok := strings.Cut(ref, "/")
	return ok && (strings.ContainsAny(first, ".:") || first == "localhost")
}

func (a *Artifact) sum(ctx context.Context, r io.Reader, opts ResolveOptions, label string, size int64) error {
	var sumOpts []digest.SumOption
	if opts.Progress != nil {
		opts.Progress.Start(label, size)
		defer opts.Progress.Done()
		var last int64
		sumOpts = append(sumOpts, digest.WithProgress(func(n int64) {
			opts.Progress.Add(n - last)
			last = n
		}))
	}
	res, err := digest.Sum(ctx, r, opts.Algorithms, sumOpts...)
	if err != nil {
		return fmt.Errorf("client: read %s: %w: %w", a.Ref, ErrUnreadable, err)
	}
	a.Size, a.Digests = res.Size, res.Digests
	return nil
}

func resolveFile(ctx context.Context, p string, size int64, opts ResolveOptions) (*Artifact, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("client: %w: %w", ErrUnreadable, err)
	}
	defer f.Close()
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = p
	}
	a := &Artifact{Ref: p, Kind: KindFile, Name: filepath.Base(p), Path: p, ResourceURI: (&url.URL{Scheme: "file", Path: abs}).String()}
	return a, a.sum(ctx, f, opts, filepath.Base(p), size)
}

// httpClient returns the client https references are fetched with: opts'
// own, or one trusting the system roots plus CAFile.
func (opts ResolveOptions) httpClient() (*http.Client, error) {
	if opts.HTTPClient != nil {
		return opts.HTTPClient, nil
	}
	if opts.CAFile == "" {
		return &http.Client{}, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(opts.CAFile)
	if err != nil {
		return nil, fmt.Errorf("client: CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client: CA file %s: no PEM certificates in it", opts.CAFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	return &http.Client{Transport: tr}, nil
}

// getHTTPS opens a GET of u, failing on any status but 200.
func getHTTPS(ctx context.Context, hc *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w: %w", u, ErrBadRef, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %w: %w", ErrUnreadable, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return resp, fmt.Errorf("client: GET %s: %w: %s", u, ErrUnreadable, resp.Status)
	}
	return resp, nil
}

func resolveHTTPS(ctx context.Context, ref string, opts ResolveOptions) (*Artifact, error) {
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("client: resolve %s: %w: not a URL", ref, ErrBadRef)
	}
	hc, err := opts.httpClient()
	if err != nil {
		return nil, err
	}
	resp, err := getHTTPS(ctx, hc, ref)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	a := &Artifact{Ref: ref, Kind: KindHTTPS, Name: path.Base(u.Path), ResourceURI: ref}
	return a, a.sum(ctx, resp.Body, opts, a.Name, resp.ContentLength)
}

func (opts ResolveOptions) remoteOptions(ctx context.Context) ([]remote.Option, error) {
	ro := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 2})}
	if opts.CAFile != "" {
		hc, err := opts.httpClient()
		if err != nil {
			return nil, err
		}
		ro = append(ro, remote.WithTransport(hc.Transport))
	}
	return append(ro, opts.Remote...), nil
}

func resolveOCI(ctx context.Context, ref, s string, opts ResolveOptions) (*Artifact, error) {
	r, err := name.ParseReference(s, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("client: resolve %s: %w: %w", ref, ErrBadRef, err)
	}
	ro, err := opts.remoteOptions(ctx)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(r, ro...)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w: %w", ref, ErrUnreadable, err)
	}
	if len(desc.Manifest) > MaxManifestBytes {
		return nil, fmt.Errorf("client: %s: %w: manifest larger than %d bytes", ref, ErrUnreadable, MaxManifestBytes)
	}
	repo := r.Context()
	a := &Artifact{Ref: ref, Kind: KindOCI, Name: repo.Name()}
	if err := a.sum(ctx, bytes.NewReader(desc.Manifest), ResolveOptions{Algorithms: opts.Algorithms}, "manifest", int64(len(desc.Manifest))); err != nil {
		return nil, err
	}
	got := a.SHA256()
	if got.IsZero() {
		return nil, fmt.Errorf("client: %s: OCI references need sha256 among the digests", ref)
	}
	for _, want := range []string{desc.Digest.String(), r.Identifier()} {
		if strings.HasPrefix(want, "sha256:") && want != got.String() {
			return nil, fmt.Errorf("client: %s: manifest %w: registry or reference says %s, the bytes are %s", ref, ErrDigestMismatch, want, got)
		}
	}
	h, _ := v1.NewHash(got.String())
	a.OCI = &OCIArtifact{Repository: repo, Digest: h, MediaType: string(desc.MediaType), options: ro}
	// The name asked for, as refname normalises it, with the digest read:
	// a tag reference keeps its tag, which tokens and name requirements
	// bind (oci://registry/repo:tag@sha256:…).
	n, err := refname.Normalize("oci://" + s)
	if err != nil {
		return nil, fmt.Errorf("client: resolve %s: %w: %w", ref, ErrBadRef, err)
	}
	n.Digest = got.String()
	a.ResourceURI = n.String()
	if opts.Layers {
		if err := checkBlobs(ctx, a, desc, opts); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// maxIndexDepth bounds how deep nested image indexes are followed.
const maxIndexDepth = 4

// checkBlobs fetches what the manifest references and checks every piece
// against its digest and size: the config and layers of an image manifest,
// or, for an index, each child manifest and in turn what it references.
func checkBlobs(ctx context.Context, a *Artifact, desc *remote.Descriptor, opts ResolveOptions) error {
	repo := a.OCI.Repository
	auth, err := authn.DefaultKeychain.Resolve(repo.Registry)
	if err != nil {
		return fmt.Errorf("client: %s: credentials: %w", a.Ref, err)
	}
	base := http.DefaultTransport
	if opts.CAFile != "" {
		hc, err := opts.httpClient()
		if err != nil {
			return err
		}
		base = hc.Transport
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, base, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return fmt.Errorf("client: %s: %w: %w", a.Ref, ErrUnreadable, err)
	}
	c := &blobChecker{ctx: ctx, a: a, opts: opts, hc: &http.Client{Transport: rt}}
	return c.references(desc.MediaType, desc.Manifest, 0)
}

// blobChecker fetches and checks the pieces of one OCI artifact.
type blobChecker struct {
	ctx  context.Context
	a    *Artifact
	opts ResolveOptions
	hc   *http.Client
}

// references checks everything a manifest or index (body, of media type
// mt) references.
func (c *blobChecker) references(mt types.MediaType, body []byte, depth int) error {
	if mt.IsIndex() {
		if depth >= maxIndexDepth {
			return fmt.Errorf("client: %s: %w: image indexes nested deeper than %d", c.a.Ref, ErrUnreadable, maxIndexDepth)
		}
		idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("client: %s: index: %w: %w", c.a.Ref, ErrUnreadable, err)
		}
		for _, d := range idx.Manifests {
			child, err := c.fetch("manifests", d, true)
			if err != nil {
				return err
			}
			if err := c.references(d.MediaType, child, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("client: %s: manifest: %w: %w", c.a.Ref, ErrUnreadable, err)
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if _, err := c.fetch("blobs", d, false); err != nil {
			return err
		}
	}
	return nil
}

// fetch streams one blob or manifest, checks its digest and size, and
// returns its bytes when keep is set (manifests, bounded by
// MaxManifestBytes).
func (c *blobChecker) fetch(kind string, d v1.Descriptor, keep bool) ([]byte, error) {
	a, repo := c.a, c.a.OCI.Repository
	want, err := digest.Parse(d.Digest.String())
	if err != nil {
		return nil, fmt.Errorf("client: %s: %s %s: %w: %w", a.Ref, kind, d.Digest, ErrUnreadable, err)
	}
	if keep && d.Size > MaxManifestBytes {
		return nil, fmt.Errorf("client: %s: manifest %s: %w: larger than %d bytes", a.Ref, d.Digest, ErrUnreadable, MaxManifestBytes)
	}
	u := fmt.Sprintf("%s://%s/v2/%s/%s/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr(), kind, d.Digest)
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if kind == "manifests" {
		req.Header.Set("Accept", string(d.MediaType))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w: %w", a.Ref, ErrUnreadable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("client: %s: %s %s: %w: %s", a.Ref, kind, d.Digest, ErrUnreadable, resp.Status)
	}
	var r io.Reader = io.LimitReader(resp.Body, d.Size+1)
	var kept bytes.Buffer
	if keep {
		r = io.TeeReader(r, &kept)
	}
	var sumOpts []digest.SumOption
	if p := c.opts.Progress; p != nil {
		p.Start(d.Digest.String()[:19], d.Size)
		defer p.Done()
		var last int64
		sumOpts = append(sumOpts, digest.WithProgress(func(n int64) { p.Add(n - last); last = n }))
	}
	res, err := digest.Sum(c.ctx, r, []digest.Algorithm{want.Algorithm()}, sumOpts...)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %s %s: %w: %w", a.Ref, kind, d.Digest, ErrUnreadable, err)
	}
	if res.Digests[0] != want || res.Size != d.Size {
		return nil, fmt.Errorf("client: %s: %s %w: the manifest says %s (%d bytes), the registry served %s (%d bytes)",
			a.Ref, strings.TrimSuffix(kind, "s"), ErrDigestMismatch, want, d.Size, res.Digests[0], res.Size)
	}
	a.OCI.Checked = append(a.OCI.Checked, d.Digest.String())
	return kept.Bytes(), nil
}
