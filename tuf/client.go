package tuf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/digest"
)

// Client-side helpers for trustctl and key holders: describe an artifact,
// edit targets metadata, build roots and hashed-bin delegations, and sign.
// They use go-tuf's model; the server checks everything again.

// TargetAlgorithms are the hashes computed for a target: the ones every TUF
// client verifies.
var TargetAlgorithms = []digest.Algorithm{digest.SHA256, digest.SHA512}

// HashTarget streams an artifact once and returns its length and its
// sha256 and sha512 digests.
func HashTarget(ctx context.Context, r io.Reader) (int64, []digest.Digest, error) {
	res, err := digest.Sum(ctx, r, TargetAlgorithms)
	if err != nil {
		return 0, nil, fmt.Errorf("tuf: hash target: %w", err)
	}
	return res.Size, res.Digests, nil
}

// NewTargetFile builds a target entry from a length and digests (sha256
// required; sha512 optional; others rejected since TUF clients cannot verify
// them) and an optional custom JSON object.
func NewTargetFile(length int64, digests []digest.Digest, custom json.RawMessage) (*metadata.TargetFiles, error) {
	tf := metadata.TargetFile()
	tf.Length = length
	for _, d := range digests {
		alg := string(d.Algorithm())
		if _, ok := tufHashes[alg]; !ok {
			return nil, fmt.Errorf("tuf: target file: digest %s: TUF clients verify sha256 and sha512 only: %w", d, ErrMalformed)
		}
		tf.Hashes[alg] = d.Bytes()
	}
	if _, ok := tf.Hashes["sha256"]; !ok {
		return nil, fmt.Errorf("tuf: target file: a sha256 digest is required: %w", ErrMalformed)
	}
	if length < 0 {
		return nil, fmt.Errorf("tuf: target file: negative length %d: %w", length, ErrMalformed)
	}
	if custom != nil {
		c := json.RawMessage(append([]byte(nil), custom...))
		tf.Custom = &c
	}
	return tf, nil
}

// expiresAt is t as a TUF expiry, in whole seconds: rounded up, so a
// document asked to live for a while (trustctl's --expires) is not
// already expired when it reaches the server.
func expiresAt(t time.Time) time.Time {
	s := t.UTC().Truncate(time.Second)
	if s.Before(t) {
		s = s.Add(time.Second)
	}
	return s
}

// NextTargets parses the current signed targets metadata of a role (nil for
// a role's first version) and returns the next version, unsigned, expiring
// at expires: same targets and delegations, version + 1, no signatures.
func NextTargets(current []byte, expires time.Time) (*metadata.Metadata[metadata.TargetsType], error) {
	if current == nil {
		return metadata.Targets(expiresAt(expires)), nil
	}
	md, err := (&metadata.Metadata[metadata.TargetsType]{}).FromBytes(current)
	if err != nil {
		return nil, fmt.Errorf("tuf: next targets: %w", err)
	}
	md.Signed.Version++
	md.Signed.Expires = expiresAt(expires)
	md.ClearSignatures()
	return md, nil
}

// AddTarget returns the next version of the targets metadata current (nil
// for a role's first version) with target name added or replaced, unsigned.
func AddTarget(current []byte, name string, tf *metadata.TargetFiles, expires time.Time) (*metadata.Metadata[metadata.TargetsType], error) {
	if f := checkTargetPath("name", name); f != nil {
		return nil, opError("add target", "", "", ErrMalformed, f)
	}
	md, err := NextTargets(current, expires)
	if err != nil {
		return nil, err
	}
	c := *tf
	c.Path = name
	md.Signed.Targets[name] = &c
	return md, nil
}

// RemoveTarget returns the next version of current without target name,
// unsigned.
func RemoveTarget(current []byte, name string, expires time.Time) (*metadata.Metadata[metadata.TargetsType], error) {
	md, err := NextTargets(current, expires)
	if err != nil {
		return nil, err
	}
	if _, ok := md.Signed.Targets[name]; !ok {
		return nil, fmt.Errorf("tuf: remove target %q: %w", name, ErrNotFound)
	}
	delete(md.Signed.Targets, name)
	return md, nil
}

// Sign signs md with each signer (go-tuf canonical JSON signing) and returns
// the signed JSON to upload.
func Sign[T metadata.Roles](md *metadata.Metadata[T], signers ...signature.Signer) ([]byte, error) {
	for _, s := range signers {
		if _, err := md.Sign(s); err != nil {
			return nil, fmt.Errorf("tuf: sign: %w", err)
		}
	}
	out, err := md.ToBytes(false)
	if err != nil {
		return nil, fmt.Errorf("tuf: sign: %w", err)
	}
	return out, nil
}

// SignatureFor signs the signed part of an existing document (a pending
// proposal fetched from Status or a colleague) and returns the signatures
// alone, for AddSignatures.
func SignatureFor(doc []byte, signers ...signature.Signer) ([]metadata.Signature, error) {
	var probe struct {
		Signed struct {
			Type string `json:"_type"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(doc, &probe); err != nil {
		return nil, fmt.Errorf("tuf: signature for: %w", err)
	}
	switch probe.Signed.Type {
	case metadata.ROOT:
		return signatureFor[metadata.RootType](doc, signers)
	case metadata.TARGETS:
		return signatureFor[metadata.TargetsType](doc, signers)
	}
	return nil, fmt.Errorf("tuf: signature for: _type %q: only root and targets are signed offline: %w", trunc(probe.Signed.Type), ErrMalformed)
}

func signatureFor[T metadata.Roles](doc []byte, signers []signature.Signer) ([]metadata.Signature, error) {
	md, err := (&metadata.Metadata[T]{}).FromBytes(doc)
	if err != nil {
		return nil, fmt.Errorf("tuf: signature for: %w", err)
	}
	md.ClearSignatures()
	var out []metadata.Signature
	for _, s := range signers {
		sg, err := md.Sign(s)
		if err != nil {
			return nil, fmt.Errorf("tuf: signature for: %w", err)
		}
		out = append(out, *sg)
	}
	return out, nil
}

// KeySet is a role's keys and threshold.
type KeySet struct {
	Keys      []*metadata.Key
	Threshold int
}

// RootSpec describes a root to build with NewRoot.
type RootSpec struct {
	Version int64 // 1 for a new repository, current + 1 for a rotation
	Expires time.Time
	Root    KeySet
	Targets KeySet
	// Snapshot and Timestamp are trustd's online keys (OnlineKeys.Keys);
	// thresholds default to 1.
	Snapshot  KeySet
	Timestamp KeySet
}

// NewRoot builds an unsigned root from spec, with consistent snapshots.
func NewRoot(spec RootSpec) (*metadata.Metadata[metadata.RootType], error) {
	md := metadata.Root(expiresAt(spec.Expires))
	if spec.Version > 0 {
		md.Signed.Version = spec.Version
	}
	for _, r := range []struct {
		name string
		ks   KeySet
	}{{metadata.ROOT, spec.Root}, {metadata.TARGETS, spec.Targets}, {metadata.SNAPSHOT, spec.Snapshot}, {metadata.TIMESTAMP, spec.Timestamp}} {
		if len(r.ks.Keys) == 0 {
			return nil, fmt.Errorf("tuf: new root: role %s has no keys: %w", r.name, ErrMalformed)
		}
		for _, k := range r.ks.Keys {
			if err := md.Signed.AddKey(k, r.name); err != nil {
				return nil, fmt.Errorf("tuf: new root: role %s: %w", r.name, err)
			}
		}
		md.Signed.Roles[r.name].Threshold = max(r.ks.Threshold, 1)
	}
	return md, nil
}

// Keys returns a KeySet of the keys in m (OnlineKeys.Keys) with threshold 1,
// sorted by key id.
func Keys(m map[string]*metadata.Key) KeySet {
	ks := KeySet{Threshold: 1}
	for _, id := range sortedKeys(m) {
		ks.Keys = append(ks.Keys, m[id])
	}
	return ks
}

// HashedBins returns a succinct hashed-bin delegation (TAP 15, go-tuf's
// SuccinctRoles): 2^bitLength bins named namePrefix-XX, sharing keys and
// threshold. Set it as a targets role's Delegations.
func HashedBins(namePrefix string, bitLength int, bins KeySet) (*metadata.Delegations, error) {
	if bitLength < 1 || bitLength > MaxBinBits {
		return nil, fmt.Errorf("tuf: hashed bins: bit length %d, want 1 to %d: %w", bitLength, MaxBinBits, ErrMalformed)
	}
	if f := checkRoleName("name_prefix", namePrefix); f != nil {
		return nil, opError("hashed bins", "", "", ErrMalformed, f)
	}
	d := &metadata.Delegations{Keys: map[string]*metadata.Key{}, SuccinctRoles: &metadata.SuccinctRoles{
		Threshold: max(bins.Threshold, 1), BitLength: bitLength, NamePrefix: namePrefix,
	}}
	for _, k := range bins.Keys {
		id, err := k.ID()
		if err != nil {
			return nil, fmt.Errorf("tuf: hashed bins: %w", err)
		}
		d.Keys[id] = k
		d.SuccinctRoles.KeyIDs = append(d.SuccinctRoles.KeyIDs, id)
	}
	sort.Strings(d.SuccinctRoles.KeyIDs)
	return d, nil
}

// BinFor returns the hashed bin of a succinct delegation responsible for
// target path name.
func BinFor(d *metadata.Delegations, name string) (string, error) {
	if d == nil || d.SuccinctRoles == nil {
		return "", fmt.Errorf("tuf: bin for %q: not a hashed-bin delegation: %w", name, ErrMalformed)
	}
	return d.SuccinctRoles.GetRolesForTarget(name)[0].Name, nil
}

// BinNames returns every bin name of a succinct delegation, in order.
func BinNames(d *metadata.Delegations) []string {
	if d == nil || d.SuccinctRoles == nil {
		return nil
	}
	return d.SuccinctRoles.GetRoles()
}
