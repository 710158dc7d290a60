package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/pgp"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
)

// maxEntries bounds how many log entries one source call reads.
const maxEntries = 500

// RPC is the part of trustd's gRPC API the server-backed evidence sources
// call, as plain functions: trustctl passes its client stubs, trustd its
// own handlers, so both evaluate over the same code and the same answers.
type RPC struct {
	ListBySubject func(context.Context, *trustv1.ListBySubjectRequest) (*trustv1.ListBySubjectResponse, error)
	Decide        func(context.Context, *trustv1.DecideRequest) (*trustv1.DecideResponse, error)
	GetMetadata   func(context.Context, *trustv1.GetMetadataRequest) (*trustv1.GetMetadataResponse, error)
	GetKey        func(context.Context, *trustv1.GetKeyRequest) (*trustv1.GetKeyResponse, error)
	// LookupRevocation, when set, answers revocation requirements from
	// trustd's live revocation index.
	LookupRevocation func(context.Context, *trustv1.LookupRevocationRequest) (*trustv1.LookupRevocationResponse, error)
	// GetReputation, when set, answers reputation requirements.
	GetReputation func(context.Context, *trustv1.GetReputationRequest) (*trustv1.GetReputationResponse, error)
}

// ServerSources returns the sources trustd answers through its API: TUF
// targets, OpenPGP manifests and chains, the signers of every log entry
// about the bytes (for thresholds), and, when their functions are set,
// revocations and reputation. Attestation sources are added by the caller
// where they exist.
func ServerSources(rpc RPC) Sources {
	s := &rpcSource{rpc: rpc}
	out := Sources{Signers: s}
	if rpc.LookupRevocation != nil {
		out.Revocations = s
	}
	if rpc.GetReputation != nil {
		out.Reputation = s
	}
	if rpc.GetMetadata != nil {
		out.TUF = s
	}
	if rpc.Decide != nil && rpc.GetKey != nil {
		out.PGP = s
	}
	return out
}

type rpcSource struct{ rpc RPC }

// TUFRole reads the latest version of a targets role as trustd serves it.
func (s *rpcSource) TUFRole(ctx context.Context, repo, role string) (*TUFRole, error) {
	resp, err := s.rpc.GetMetadata(ctx, &trustv1.GetMetadataRequest{Repo: repo, Name: role + ".json"})
	if err != nil {
		return nil, err
	}
	md, err := metadata.Targets().FromBytes(resp.GetData())
	if err != nil {
		return nil, fmt.Errorf("repo %s role %s: %w", repo, role, err)
	}
	out := &TUFRole{Repo: repo, Role: role, Version: md.Signed.Version, Expires: md.Signed.Expires, Targets: map[string][]digest.Digest{},
		Input: Input{URI: fmt.Sprintf("trustd:tuf/%s/%d.%s.json", repo, md.Signed.Version, role), Digest: sha256Of(resp.GetData())}}
	for name, t := range md.Signed.Targets {
		for alg, h := range t.Hashes {
			d, err := digest.Parse(alg + ":" + hex.EncodeToString(h))
			if err != nil {
				continue // an algorithm trustd does not know cannot match
			}
			out.Targets[name] = append(out.Targets[name], d)
		}
	}
	return out, nil
}

// sha256Of is the sha256 digest of data.
func sha256Of(data []byte) digest.Digest {
	sum := sha256.Sum256(data)
	d, _ := digest.New(digest.SHA256, sum[:])
	return d
}

// entries pages through the log entries naming d (of one predicate type,
// if set), up to maxEntries.
func (s *rpcSource) entries(ctx context.Context, d digest.Digest, predicateType string) ([]*trustv1.LogEntry, error) {
	if s.rpc.ListBySubject == nil {
		return nil, errors.New("the statement service is not available")
	}
	var out []*trustv1.LogEntry
	tok := ""
	for len(out) < maxEntries {
		resp, err := s.rpc.ListBySubject(ctx, &trustv1.ListBySubjectRequest{Digest: d.String(), PredicateType: predicateType, PageSize: maxEntries, PageToken: tok})
		if err != nil {
			return nil, err
		}
		out = append(out, resp.GetEntries()...)
		if tok = resp.GetNextPageToken(); tok == "" {
			break
		}
	}
	return out, nil
}

// PGPSignatures lists the OpenPGP manifests whose lines name the bytes. The
// log's index is not taken on trust: each manifest's signature is verified
// here against its signer's registered certificate, and the manifest
// itself is parsed for the line naming the digest; the signing key and
// the time the signature claims are what the chain decision is asked about.
func (s *rpcSource) PGPSignatures(ctx context.Context, ds []digest.Digest) ([]PGPSignature, error) {
	var out []PGPSignature
	seen := map[uint64]bool{}
	for _, d := range ds {
		entries, err := s.entries(ctx, d, recordtype.PGPManifest)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			// Only manifests pgplog published count; a forged record of
			// the manifest type (an old database's) is no signature.
			if seen[e.GetSeq()] || len(e.GetSignerKeyIds()) == 0 || !recordtype.WrittenByOwner(e.GetPayloadType(), e.GetPredicateType()) {
				continue
			}
			seen[e.GetSeq()] = true
			sig, err := s.verifyManifest(ctx, e, d)
			if err != nil {
				return nil, fmt.Errorf("manifest seq %d: %w", e.GetSeq(), err)
			}
			if sig != nil {
				out = append(out, *sig)
			}
		}
	}
	return out, nil
}

// verifyManifest checks a manifest log entry's signature and finds the line
// naming d; nil when no line does.
func (s *rpcSource) verifyManifest(ctx context.Context, e *trustv1.LogEntry, d digest.Digest) (*PGPSignature, error) {
	var rec pgp.ManifestRecord
	if err := json.Unmarshal(e.GetEnvelope(), &rec); err != nil {
		return nil, fmt.Errorf("not a manifest record: %w", err)
	}
	primary := e.GetSignerKeyIds()[0]
	resp, err := s.rpc.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: primary})
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", primary, err)
	}
	cert, err := pgp.ParseCertificate(resp.GetKey().GetPgp().GetCertificate())
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", primary, err)
	}
	data := rec.Manifest
	var info pgp.SignatureInfo
	if len(rec.Clearsigned) > 0 {
		data, info, err = pgp.VerifyCleartext(cert, rec.Clearsigned)
	} else {
		info, err = pgp.VerifyDetached(cert, rec.Manifest, rec.Signature)
	}
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	lines, _, err := pgp.ParseManifestWith(data, pgp.ManifestOptionsFor(rec.Name))
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	for _, l := range lines {
		if l.Digest == d {
			sig := &PGPSignature{Name: l.Name, Signer: info.SigningKey, Primary: info.Primary, Seq: e.GetSeq(), At: info.Created}
			if ed, err := digest.Parse(e.GetEnvelopeDigest()); err == nil {
				sig.Input = Input{URI: fmt.Sprintf("trustd:log/%d", e.GetSeq()), Digest: ed}
			}
			return sig, nil
		}
	}
	return nil, nil
}

// PGPDecide asks trustd's chain decision for a signer and name.
func (s *rpcSource) PGPDecide(ctx context.Context, name, signer string, at time.Time, roots []string) (PGPDecision, error) {
	req := &trustv1.DecideRequest{Name: name, Signer: signer, Roots: roots}
	if !at.IsZero() {
		req.SignedAt = timestamppb.New(at)
		req.ObservedAt = timestamppb.New(at)
	}
	resp, err := s.rpc.Decide(ctx, req)
	if err != nil {
		return PGPDecision{}, err
	}
	if !resp.GetAllowed() {
		r := resp.GetRefusal()
		detail := r.GetDetail()
		if r.GetStatementSeq() != 0 {
			detail += fmt.Sprintf(" (statement seq %d)", r.GetStatementSeq())
		}
		return PGPDecision{Refusal: r.GetCode(), Detail: detail}, nil
	}
	ch := resp.GetChain()
	out := PGPDecision{Allowed: true, Chain: []string{"pinned root " + ch.GetRoot()}}
	for _, l := range ch.GetLinks() {
		out.Chain = append(out.Chain, fmt.Sprintf("%s %s → %s (statement seq %d)", l.GetKind(), l.GetFrom(), l.GetTo(), l.GetStatementSeq()))
	}
	return out, nil
}

// Signatures lists every signer of every log entry naming the bytes.
func (s *rpcSource) Signatures(ctx context.Context, ds []digest.Digest) ([]Signature, error) {
	var out []Signature
	seen := map[uint64]bool{}
	for _, d := range ds {
		entries, err := s.entries(ctx, d, "")
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if seen[e.GetSeq()] {
				continue
			}
			seen[e.GetSeq()] = true
			if !recordtype.Genuine(e.GetPayloadType(), e.GetPredicateType()) {
				continue // a record its type's path did not write: no signature
			}
			kind := "key"
			if e.GetPredicateType() == recordtype.PGPManifest {
				kind = "pgp"
			}
			var in Input
			if ed, err := digest.Parse(e.GetEnvelopeDigest()); err == nil {
				in = Input{URI: fmt.Sprintf("trustd:log/%d", e.GetSeq()), Digest: ed}
			}
			for _, id := range e.GetSignerKeyIds() {
				out = append(out, Signature{Kind: kind, ID: id, Seq: e.GetSeq(), Input: in})
			}
		}
	}
	return out, nil
}

// Revocations asks trustd's live revocation index about each digest,
// signer key and statement. The answer is current, so the list time is
// now; the list number is not known to this call and is left 0.
func (s *rpcSource) Revocations(ctx context.Context, ds []digest.Digest, signers []string, statements []digest.Digest) (RevocationStatus, error) {
	st := RevocationStatus{ListTime: time.Now()}
	ask := func(kind, id string) error {
		resp, err := s.rpc.LookupRevocation(ctx, &trustv1.LookupRevocationRequest{Kind: kind, Id: id})
		if err != nil {
			return fmt.Errorf("%s %s: %w", kind, id, err)
		}
		if resp.GetInForce() {
			r := resp.GetRevocation()
			st.Revoked = append(st.Revoked, Revoked{What: kind + " " + id, Seq: r.GetSeq(), Reason: r.GetReason()})
		}
		return nil
	}
	for _, d := range ds {
		if err := ask("digest", d.String()); err != nil {
			return RevocationStatus{}, err
		}
	}
	for _, k := range signers {
		if err := ask("key", k); err != nil {
			return RevocationStatus{}, err
		}
	}
	for _, d := range statements {
		if err := ask("statement", d.String()); err != nil {
			return RevocationStatus{}, err
		}
	}
	return st, nil
}

// Reputation asks trustd for the figures of the bytes' first digest
// (sha256), over all voters or the voters reachable from trustSet: the
// score is the like/dislike axis's Wilson lower bound, the votes its
// voters.
func (s *rpcSource) Reputation(ctx context.Context, ds []digest.Digest, trustSet []string) (Reputation, error) {
	if len(ds) == 0 {
		return Reputation{}, errors.New("no digest")
	}
	resp, err := s.rpc.GetReputation(ctx, &trustv1.GetReputationRequest{Digest: ds[0].String(), TrustRoots: trustSet})
	if err != nil {
		return Reputation{}, err
	}
	q := resp.GetQuality()
	return Reputation{Score: q.GetScore(), Votes: int(q.GetPositive() + q.GetNegative())}, nil
}
