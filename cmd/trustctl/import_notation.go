package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	godigest "github.com/opencontainers/go-digest"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/attest/notationdoc"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// maxNotationSignatures bounds how many Notation signatures one image's
// referrers may list; a registry anyone may push referrers to must not
// make an import endless.
const maxNotationSignatures = 256

// notationImporter imports the Notation signatures stored as OCI
// referrers of an image: through the referrers API, or the referrers tag
// (sha256-HEX) on registries without one (go-containerregistry falls
// back by itself).
type notationImporter struct{}

func (notationImporter) Name() string { return "notation" }

func (notationImporter) Import(ctx context.Context, env importEnv, img name.Digest) (importCounts, error) {
	var n importCounts
	idx, err := remote.Referrers(img, env.Remote...)
	if err != nil {
		return n, fmt.Errorf("referrers of %s: %w", img, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return n, fmt.Errorf("referrers of %s: %w", img, err)
	}
	subject := godigest.Digest(img.DigestStr())
	var refused []error
	seen := 0
	for _, d := range im.Manifests {
		if d.ArtifactType != notationdoc.ArtifactType {
			continue
		}
		if seen++; seen > maxNotationSignatures {
			refused = append(refused, fmt.Errorf("more than %d Notation signatures listed; the rest were not read", maxNotationSignatures))
			break
		}
		sigRef := img.Context().Digest(d.Digest.String())
		sig, err := fetchNotationSignature(env, sigRef, subject)
		if err != nil {
			refused = append(refused, fmt.Errorf("signature %s: %w", d.Digest, err))
			fmt.Fprintf(env.Out, "notation signature %s: unreadable: %v\n", d.Digest, err)
			continue
		}
		sig.Reference = img.String()
		doc, err := notationdoc.Marshal(sig)
		if err != nil {
			return n, err
		}
		resp, err := env.Client.Attest.PutAttestation(ctx, &trustv1.PutAttestationRequest{Data: doc, Digest: img.DigestStr()}, attestCallOptions...)
		if err != nil {
			msg := err.Error()
			if st, ok := status.FromError(err); ok {
				msg = st.Message()
			}
			refused = append(refused, fmt.Errorf("signature %s: %s", d.Digest, msg))
			fmt.Fprintf(env.Out, "notation signature %s: refused: %s\n", d.Digest, msg)
			continue
		}
		state := "imported"
		if resp.GetCreated() {
			n.Imported++
		} else {
			n.Skipped++
			state = "already in trustd"
		}
		fmt.Fprintf(env.Out, "notation signature %s (%s): %s, seq %d, signed by %v\n", d.Digest, sig.MediaType, state, resp.GetAttestation().GetSeq(), resp.GetAttestation().GetSigners())
	}
	if len(refused) > 0 {
		return n, fmt.Errorf("%d Notation signature(s) not imported: %w", len(refused), errors.Join(refused...))
	}
	return n, nil
}

// fetchNotationSignature reads a Notation signature manifest and its
// envelope, bounded, checking the manifest's shape and the envelope's
// digest.
func fetchNotationSignature(env importEnv, ref name.Digest, subject godigest.Digest) (notationdoc.Signature, error) {
	desc, err := remote.Get(ref, env.Remote...)
	if err != nil {
		return notationdoc.Signature{}, err
	}
	m, err := notationdoc.ParseManifest(desc.Manifest, subject)
	if err != nil {
		return notationdoc.Signature{}, err
	}
	layer, err := remote.Layer(ref.Context().Digest(m.Envelope.Digest.String()), env.Remote...)
	if err != nil {
		return notationdoc.Signature{}, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return notationdoc.Signature{}, fmt.Errorf("envelope %s: %w", m.Envelope.Digest, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, m.Envelope.Size+1))
	if err != nil {
		return notationdoc.Signature{}, fmt.Errorf("envelope %s: %w", m.Envelope.Digest, err)
	}
	if int64(len(data)) != m.Envelope.Size {
		return notationdoc.Signature{}, fmt.Errorf("envelope %s: %d bytes, the manifest says %d", m.Envelope.Digest, len(data), m.Envelope.Size)
	}
	if got := m.Envelope.Digest.Algorithm().FromBytes(data); got != m.Envelope.Digest {
		return notationdoc.Signature{}, fmt.Errorf("envelope %s: the bytes have digest %s", m.Envelope.Digest, got)
	}
	return notationdoc.Signature{MediaType: m.Envelope.MediaType, Envelope: data}, nil
}
