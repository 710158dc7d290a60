package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/cosign"
	"github.com/trustd-dev/trustd/envelope"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// importEnv is what a registryImporter works with.
type importEnv struct {
	// Client is the connection to trustd; every import goes through its
	// PutAttestation, which verifies again before storing.
	Client *client.Client
	// Remote are the registry options (context, auth, transport).
	Remote []remote.Option
	// NameOptions parse references the importer derives from the image
	// (name.Insecure for a plain-HTTP registry).
	NameOptions []name.Option
	// Keys are the registered keys named by --key: signatures by none of
	// them are counted Unmatched, not sent.
	Keys []envelope.PublicKey
	// Out receives one line per imported item.
	Out io.Writer
}

// importCounts is what one importer did.
type importCounts struct {
	// Imported counts items trustd stored new.
	Imported int
	// Skipped counts items trustd already held.
	Skipped int
	// Unmatched counts items signed by none of the keys given.
	Unmatched int
}

func (c *importCounts) add(o importCounts) {
	c.Imported += o.Imported
	c.Skipped += o.Skipped
	c.Unmatched += o.Unmatched
}

// registryImporter finds what a registry holds about an image in one
// tool's format and imports it into trustd.
type registryImporter interface {
	// Name names the format in output ("cosign").
	Name() string
	// Import imports everything the registry holds for img, idempotently.
	Import(ctx context.Context, env importEnv, img name.Digest) (importCounts, error)
}

// registryImporters are run in order by trustctl import.
var registryImporters = []registryImporter{cosignImporter{}, notationImporter{}}

// maxImportBlob bounds one signature or attestation layer read from a
// registry.
const maxImportBlob = maxAttestationFile

func newImportCmd(g *globals) *cobra.Command {
	var (
		keyIDs   []string
		insecure bool
	)
	cmd := &cobra.Command{
		Use:   "import REF [--key KEYID...]",
		Short: "Import the cosign and Notation signatures and attestations a registry holds for an image",
		Long: `import discovers what an OCI registry already holds for the image REF
(a tag is resolved to its manifest digest first) and imports all of it into
trustd: cosign signatures (sha256-HEX.sig tags, simple-signing payloads) and
cosign attestations (sha256-HEX.att tags, DSSE in-toto statements) made with
a key, and Notation signatures (COSE and JWS envelopes) stored as OCI
referrers, found through the registry's referrers API or, on registries
without one, the referrers tag (sha256-HEX). --key names the registered keys (trustctl key add cosign.pub) whose
signatures to import; a signature by none of them is counted and left out.
trustd verifies every item again against the registered key before storing
it (Notation signatures against its --notation-trust-store and
--notation-trust-policy), and records it as evidence for the image's digest.
A refused item does not stop the others: they are imported, the refusals
are listed, and the command fails.

Running it again imports nothing new and says so. Registry credentials come
from the Docker config (~/.docker/config.json), as for trustctl verify.`,
		Example: `  trustctl key add cosign.pub --label release
  trustctl import registry.example/app:1.0 --key 5c3b…
  trustctl import registry.example/app@sha256:… --key 5c3b… --key 9e1f…`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var nopts []name.Option
			if insecure {
				nopts = append(nopts, name.Insecure)
			}
			ref, err := name.ParseReference(args[0], nopts...)
			if err != nil {
				return fmt.Errorf("REF: %w", err)
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				progress := cmd.OutOrStdout()
				if g.output == "json" {
					progress = cmd.ErrOrStderr()
				}
				env := importEnv{Client: c, NameOptions: nopts, Out: progress,
					Remote: []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}}
				for _, id := range keyIDs {
					resp, err := c.Keys.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: id})
					if err != nil {
						return fmt.Errorf("--key %s: %w", id, err)
					}
					pub, err := envelope.ParsePublicKey([]byte(resp.GetKey().GetPublicKeyPem()))
					if err != nil {
						return fmt.Errorf("--key %s: %w", id, err)
					}
					if pub.ID != id {
						return fmt.Errorf("--key %s: trustd returned the key %s", id, pub.ID)
					}
					env.Keys = append(env.Keys, pub)
				}
				img, err := resolveDigest(ref, env.Remote)
				if err != nil {
					return err
				}
				var (
					total importCounts
					errs  []error
					doc   = importDoc{Image: img.String(), Formats: []importFormat{}}
				)
				for _, imp := range registryImporters {
					n, err := imp.Import(ctx, env, img)
					doc.Formats = append(doc.Formats, importFormat{Format: imp.Name(), Imported: n.Imported, AlreadyPresent: n.Skipped, Unmatched: n.Unmatched})
					if g.output != "json" {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: %d imported, %d already in trustd, %d signed by none of --key\n",
							imp.Name(), n.Imported, n.Skipped, n.Unmatched)
					}
					total.add(n)
					if err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", imp.Name(), err))
					}
				}
				if g.output == "json" {
					if len(errs) > 0 {
						return errors.Join(errs...)
					}
					return printJSON(cmd.OutOrStdout(), doc)
				}
				if total.Unmatched > 0 && len(keyIDs) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "name the registered keys whose signatures to import with --key")
				}
				if total.Imported == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "nothing new to import for %s\n", img)
				}
				return errors.Join(errs...)
			})
		},
	}
	cmd.Flags().StringArrayVar(&keyIDs, "key", nil, "registered key id whose cosign signatures to import; repeatable (default none: cosign signatures are counted, not imported)")
	cmd.Flags().BoolVar(&insecure, "insecure-registry", false, "talk plain HTTP to the registry (default false; localhost is always plain HTTP)")
	return cmd
}

// resolveDigest returns ref as a digest reference, asking the registry
// for a tag's manifest digest.
func resolveDigest(ref name.Reference, ro []remote.Option) (name.Digest, error) {
	if d, ok := ref.(name.Digest); ok {
		return d, nil
	}
	desc, err := remote.Head(ref, ro...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("REF: resolve %s: %w", ref, err)
	}
	return ref.Context().Digest(desc.Digest.String()), nil
}

// cosignImporter imports cosign's .sig and .att tags.
type cosignImporter struct{}

func (cosignImporter) Name() string { return "cosign" }

// Import reads the image's sha256-HEX.sig and .att manifests (absent ones
// hold nothing) and sends each layer signed by one of env.Keys to trustd
// as a cosign Record.
func (cosignImporter) Import(ctx context.Context, env importEnv, img name.Digest) (importCounts, error) {
	var n importCounts
	h, err := v1.NewHash(img.DigestStr())
	if err != nil {
		return n, fmt.Errorf("REF: %w", err)
	}
	for _, suffix := range []string{".sig", ".att"} {
		tag, err := name.NewTag(img.Context().String()+":"+h.Algorithm+"-"+h.Hex+suffix, env.NameOptions...)
		if err != nil {
			return n, err
		}
		m, err := remote.Image(tag, env.Remote...)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("read %s: %w", tag, err)
		}
		mf, err := m.Manifest()
		if err != nil {
			return n, fmt.Errorf("read %s: %w", tag, err)
		}
		for i, desc := range mf.Layers {
			fld := fmt.Sprintf("%s layers[%d]", tag, i)
			var kind string
			switch {
			case suffix == ".sig" && desc.MediaType == cosign.SimpleSigningMediaType:
				kind = cosign.KindSimpleSigning
			case suffix == ".att" && desc.MediaType == cosign.DSSEMediaType:
				kind = cosign.KindDSSE
			default:
				fmt.Fprintf(env.Out, "cosign: %s: media type %s is not cosign's; left out\n", fld, desc.MediaType)
				continue
			}
			data, err := readLayer(m, desc, fld)
			if err != nil {
				return n, err
			}
			r := cosign.Record{Cosign: cosign.RecordVersion, Kind: kind, Data: data}
			var msg, sig []byte
			if kind == cosign.KindSimpleSigning {
				p, err := cosign.ParseSimpleSigning(data)
				if err != nil {
					return n, fmt.Errorf("%s: %w", fld, err)
				}
				if p.ManifestDigest.String() != img.DigestStr() {
					fmt.Fprintf(env.Out, "cosign: %s: signs %s, not this image; left out\n", fld, p.ManifestDigest)
					n.Unmatched++
					continue
				}
				r.Signature = desc.Annotations[cosign.SignatureAnnotation]
				if sig, err = cosign.DecodeSignature(cosign.SignatureAnnotation, r.Signature); err != nil {
					return n, fmt.Errorf("%s: %w", fld, err)
				}
				msg = data
			} else {
				if msg, sig, err = dssePAE(data); err != nil {
					return n, fmt.Errorf("%s: %w", fld, err)
				}
			}
			for _, k := range env.Keys {
				if cosign.VerifyMessage(k, msg, sig) == nil {
					r.KeyID = k.ID
					break
				}
			}
			if r.KeyID == "" {
				n.Unmatched++
				continue
			}
			rec, err := r.Encode()
			if err != nil {
				return n, err
			}
			resp, err := env.Client.Attest.PutAttestation(ctx, &trustv1.PutAttestationRequest{Data: rec, Digest: img.DigestStr()}, attestCallOptions...)
			if err != nil {
				return n, fmt.Errorf("%s: %w", fld, err)
			}
			a := resp.GetAttestation()
			if resp.GetCreated() {
				n.Imported++
				fmt.Fprintf(env.Out, "cosign: %s: seq %d  %s  signed by %s\n", fld, a.GetSeq(), a.GetPredicateType(), r.KeyID)
			} else {
				n.Skipped++
			}
		}
	}
	return n, nil
}

// readLayer reads a layer's bytes within maxImportBlob, checking them
// against the digest the manifest gives.
func readLayer(m v1.Image, desc v1.Descriptor, fld string) ([]byte, error) {
	if desc.Size > maxImportBlob {
		return nil, fmt.Errorf("%s: %d bytes, the limit is %d", fld, desc.Size, maxImportBlob)
	}
	l, err := m.LayerByDigest(desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fld, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fld, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxImportBlob+1))
	if err != nil {
		// go-containerregistry checks the digest as the read ends.
		return nil, fmt.Errorf("%s: %w", fld, err)
	}
	if int64(len(data)) != desc.Size {
		return nil, fmt.Errorf("%s: %d bytes, the manifest says %d", fld, len(data), desc.Size)
	}
	return data, nil
}

// dssePAE returns the pre-authentication encoding a cosign .att layer's one
// signature signs, and that signature.
func dssePAE(data []byte) (pae, sig []byte, err error) {
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []struct {
			Sig string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, nil, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	if len(env.Signatures) != 1 {
		return nil, nil, fmt.Errorf("signatures: %d; cosign writes exactly one", len(env.Signatures))
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("payload: not base64: %w", err)
	}
	sig, err = cosign.DecodeSignature("signatures[0].sig", env.Signatures[0].Sig)
	if err != nil {
		return nil, nil, err
	}
	return dsse.PAE(env.PayloadType, payload), sig, nil
}

// isNotFound reports whether a registry said the manifest does not exist.
func isNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return strings.Contains(te.Error(), "MANIFEST_UNKNOWN")
}

// importDoc is trustctl import's --output json document: per format, what
// was imported.
type importDoc struct {
	Image   string         `json:"image"`
	Formats []importFormat `json:"formats"`
}

// importFormat counts one format's signatures: imported new, already in
// trustd, and signed by none of --key.
type importFormat struct {
	Format         string `json:"format"`
	Imported       int    `json:"imported"`
	AlreadyPresent int    `json:"already_present"`
	Unmatched      int    `json:"unmatched"`
}
