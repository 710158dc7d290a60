package fetch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/trustd-dev/trustd/digest"
)

// openOCI opens the blob an oci://registry/repo@sha256:HEX location names,
// with go-containerregistry over the guarded transport. The blob's digest
// joins the digests the bytes must have.
func (f *fetcher) openOCI(ctx context.Context, l Location) (io.ReadCloser, int64, error) {
	s := strings.TrimPrefix(l.URL, "oci://")
	nopts := []name.Option{name.StrictValidation}
	if f.opts.AllowHTTPUnsafe {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.NewDigest(s, nopts...)
	if err != nil {
		return nil, -1, fmt.Errorf("%w: %s: want oci://registry/repository@sha256:HEX: %w", ErrBadLocation, l.URL, err)
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	ropts = append(ropts, f.opts.Remote...)
	ropts = append(ropts, remote.WithTransport(schemeGuard{f: f, rt: f.transport()}),
		remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 2}))
	layer, err := remote.Layer(ref, ropts...)
	if err != nil {
		return nil, -1, unavailable(err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, -1, unavailable(err)
	}
	size := int64(-1)
	if n, err := layer.Size(); err == nil {
		size = n
	}
	return rc, size, nil
}

// withOCIDigest adds the blob digest an OCI location names to the digests
// its bytes must have.
func withOCIDigest(l Location) Location {
	s, ok := strings.CutPrefix(l.URL, "oci://")
	if !ok {
		return l
	}
	_, ds, ok := strings.Cut(s, "@")
	if !ok {
		return l
	}
	d, err := digest.Parse(ds)
	if err != nil || slices.Contains(l.Digests, d) {
		return l
	}
	l.Digests = append(slices.Clone(l.Digests), d)
	return l
}

// schemeGuard refuses plain http requests unless they are allowed:
// go-containerregistry falls back to http for registries on loopback and
// private addresses by itself, and follows redirects with its own client.
type schemeGuard struct {
	f  *fetcher
	rt http.RoundTripper
}

func (g schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := g.f.checkScheme(req.URL); err != nil {
		return nil, err
	}
	return g.rt.RoundTrip(req)
}
