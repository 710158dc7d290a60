package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/trustd-dev/trustd/token"
)

// Media types of a token stored in a registry as an OCI 1.1 referrer
// artifact: the artifact type names a trustd token, its one layer is the
// DSSE envelope, and the config is the OCI empty descriptor.
const (
	TokenArtifactType  = "application/vnd.trustd.token.v1+json"
	DSSEMediaType      = "application/vnd.dsse.envelope.v1+json"
	emptyMediaType     = "application/vnd.oci.empty.v1+json"
	SidecarSuffix      = ".trust.json"
	maxReferrerTokens  = 16
	maxReferrerEntries = 1024
)

// SidecarPath is where a file's token is kept: FILE.trust.json.
func SidecarPath(file string) string { return file + SidecarSuffix }

// AttachToken stores a token beside the artifact: a FILE.trust.json
// sidecar for files, a referrer artifact (OCI 1.1 referrers API, or the
// referrers tag fallback "sha256-HEX" on registries without it) for OCI
// references. It returns where the token went.
func AttachToken(ctx context.Context, a *Artifact, tok []byte) (string, error) {
	switch a.Kind {
	case KindFile:
		p := SidecarPath(a.Path)
		if err := os.WriteFile(p, tok, 0o644); err != nil {
			return "", fmt.Errorf("client: attach token: %w", err)
		}
		return p, nil
	case KindOCI:
		return attachReferrer(ctx, a, tok)
	}
	return "", fmt.Errorf("client: attach token: %s references have nowhere to keep a token; save it as FILE%s", a.Kind, SidecarSuffix)
}

// rawManifest is a manifest to PUT as is.
type rawManifest struct {
	body []byte
	mt   types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.body, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

func attachReferrer(ctx context.Context, a *Artifact, tok []byte) (string, error) {
	repo := a.OCI.Repository
	layer := static.NewLayer(tok, DSSEMediaType)
	empty := static.NewLayer([]byte("{}"), emptyMediaType)
	for _, l := range []v1.Layer{empty, layer} {
		if err := remote.WriteLayer(repo, l, a.OCI.options...); err != nil {
			return "", fmt.Errorf("client: attach token: upload blob: %w", err)
		}
	}
	desc := func(l v1.Layer, mt string) v1.Descriptor {
		d, _ := l.Digest()
		n, _ := l.Size()
		return v1.Descriptor{MediaType: types.MediaType(mt), Digest: d, Size: n}
	}
	subject := v1.Descriptor{MediaType: types.MediaType(a.OCI.MediaType), Digest: a.OCI.Digest, Size: a.Size}
	m := v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: TokenArtifactType,
		Config: desc(empty, emptyMediaType), Layers: []v1.Descriptor{desc(layer, DSSEMediaType)},
		Subject:     &subject,
		Annotations: map[string]string{"dev.trustd.token.id": token.ID(tok)},
	}
	body, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("client: attach token: %w", err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	ref := repo.Digest(h.String())
	if err := remote.Put(ref, rawManifest{body, types.OCIManifestSchema1}, a.OCI.options...); err != nil {
		return "", fmt.Errorf("client: attach token: put referrer manifest: %w", err)
	}
	return ref.String(), nil
}

// FindTokens returns the tokens stored beside the artifact (none is not an
// error): the sidecar of a file or of an https URL (URL.trust.json), or the
// registry referrers of an OCI manifest with the token artifact type.
func FindTokens(ctx context.Context, a *Artifact, opts ResolveOptions) ([][]byte, error) {
	switch a.Kind {
	case KindFile:
		data, err := readBounded(SidecarPath(a.Path))
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return [][]byte{data}, nil
	case KindHTTPS:
		hc, err := opts.httpClient()
		if err != nil {
			return nil, err
		}
		resp, err := getHTTPS(ctx, hc, a.Ref+SidecarSuffix)
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		data, err := readAllBounded(resp.Body)
		if err != nil {
			return nil, err
		}
		return [][]byte{data}, nil
	case KindOCI:
		return findReferrers(a)
	}
	return nil, nil
}

func readBounded(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllBounded(f)
}

func readAllBounded(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, token.MaxTokenBytes+1))
	if err != nil {
		return nil, fmt.Errorf("client: read token: %w", err)
	}
	if len(data) > token.MaxTokenBytes {
		return nil, fmt.Errorf("client: token larger than %d bytes", token.MaxTokenBytes)
	}
	return data, nil
}

func findReferrers(a *Artifact) ([][]byte, error) {
	repo := a.OCI.Repository
	idx, err := remote.Referrers(repo.Digest(a.OCI.Digest.String()), a.OCI.options...)
	if err != nil {
		return nil, fmt.Errorf("client: referrers of %s: %w: %w", a.ResourceURI, ErrUnreadable, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("client: referrers of %s: %w", a.ResourceURI, err)
	}
	if len(im.Manifests) > maxReferrerEntries {
		return nil, fmt.Errorf("client: referrers of %s: more than %d", a.ResourceURI, maxReferrerEntries)
	}
	var out [][]byte
	for _, d := range im.Manifests {
		// Some registries report the config media type (here the empty
		// descriptor's) instead of the manifest's artifactType; the
		// manifest itself decides.
		if (d.ArtifactType != TokenArtifactType && d.ArtifactType != emptyMediaType) || len(out) == maxReferrerTokens {
			continue
		}
		desc, err := remote.Get(repo.Digest(d.Digest.String()), a.OCI.options...)
		if err != nil {
			return nil, fmt.Errorf("client: token referrer %s: %w: %w", d.Digest, ErrUnreadable, err)
		}
		m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
		if err != nil || m.ArtifactType != TokenArtifactType || len(m.Layers) != 1 || m.Layers[0].MediaType != DSSEMediaType || m.Layers[0].Size > token.MaxTokenBytes {
			continue
		}
		l, err := remote.Layer(repo.Digest(m.Layers[0].Digest.String()), a.OCI.options...)
		if err != nil {
			return nil, fmt.Errorf("client: token blob %s: %w: %w", m.Layers[0].Digest, ErrUnreadable, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, fmt.Errorf("client: token blob %s: %w: %w", m.Layers[0].Digest, ErrUnreadable, err)
		}
		data, err := readAllBounded(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, data)
	}
	return out, nil
}
