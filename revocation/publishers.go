package revocation

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tufstore"
)

// evidencePage bounds the log entries read per query to find who
// published a digest.
const evidencePage = 100

// IsPublisher reports whether key k is a publisher of any of ds, trustd's
// one definition of "publisher of a digest": revocation authority over a
// digest and the right to respond to votes on it (feedback) both rest on
// it. The publisher of d is whoever published it first in this log:
//   - when the first publication is TUF targets metadata (of a top-level or
//     delegated targets role) listing d, the keys signing that role's
//     current metadata: a key rotated out of the role loses it, its
//     successor gains it;
//   - when it is an OpenPGP manifest listing d, published through pgplog,
//     the certificate that signed it.
//
// Anyone may list bytes they did not make, in a TUF repository or a
// manifest of their own; listed after the first publication they make
// that key a mirror of d, not its publisher, with no say over a release
// that is not theirs. Besides, one of Config.AttestationPublishers is a
// publisher of every digest it attested, whenever: the operator named it.
//
// Only records appended by the path recordtype gives their type count
// (TUF metadata written by tufstore, manifests by pgplog): a record of
// those types that a caller forged, or an older trustd let in, publishes
// nothing. Whether k is revoked is the caller's question.
func (s *Service) IsPublisher(ctx context.Context, k string, ds ...digest.Digest) (bool, error) {
	if k == "" || len(ds) == 0 {
		return false, nil
	}
	if ok, err := s.attested(ctx, k, ds); err != nil || ok {
		return ok, err
	}
	for _, d := range ds {
		p, err := s.firstPublication(ctx, d)
		if err != nil {
			return false, err
		}
		var signers []string
		if p.role != nil {
			if signers, err = s.roleSigners(ctx, *p.role); err != nil {
				return false, err
			}
		}
		if publishes(p, signers, k) {
			return true, nil
		}
	}
	return false, nil
}

// WrittenByPublisher returns the sequence numbers of those of entries that
// a publisher of d wrote, by the rule of IsPublisher: the TUF metadata
// tufstore published for the targets role that published d first, any
// version of it (the role keeps its authority when its keys rotate), and
// entries one of whose signers is a publisher of d. A mirror's entries
// are not among them: reputation links an alias to d only through an
// entry of d's publisher, so listing someone's digest beside another in a
// repository of one's own links nothing.
//
// Entries are judged by the types and signers they carry: d's publisher
// is resolved once, each signer is asked about once, and only a TUF
// metadata entry is read (for its repository and role). Anyone may log
// entries naming d, so reading each one would let a stranger set the cost
// of every question about d.
func (s *Service) WrittenByPublisher(ctx context.Context, d digest.Digest, entries ...store.EntryMeta) ([]int64, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	pb, err := s.PublisherOf(ctx, d)
	if err != nil {
		return nil, err
	}
	return pb.Wrote(ctx, entries...)
}

// DigestPublisher is the publisher of one digest by the first-publication rule
// (IsPublisher), resolved once, so that the keys that may sign for it and
// the entries it wrote are answered without resolving it again, each
// signer and its TUF role's signers read once. It is not safe for
// concurrent use.
type DigestPublisher struct {
	j judge
}

// PublisherOf resolves the publisher of d (none, when nothing published
// d: Keys and Wrote then answer nothing).
func (s *Service) PublisherOf(ctx context.Context, d digest.Digest) (*DigestPublisher, error) {
	p, err := s.firstPublication(ctx, d)
	if err != nil {
		return nil, err
	}
	return &DigestPublisher{j: judge{s: s, p: p, d: d, keys: map[string]bool{}}}, nil
}

// Keys returns the keys whose entries may be the publisher's (Wrote
// decides): the configured attestation publishers, and the signers of the
// current metadata of the TUF role that published the digest first or the
// signer of the manifest that did. An entry none of them signed is the
// publisher's only as a publication (TUF metadata, whichever key signed it
// then), so a reader of the digest's alias claims asks the store for the
// publications' and these keys' alone (store.ClaimQuery), and the claims
// strangers add are never read.
func (pb *DigestPublisher) Keys(ctx context.Context) ([]string, error) {
	j := &pb.j
	if j.p.entry == nil {
		return nil, nil
	}
	keys := slices.Clone(j.s.cfg.AttestationPublishers)
	switch {
	case j.p.role != nil:
		signers, err := j.roleSigners(ctx)
		if err != nil {
			return nil, err
		}
		keys = append(keys, signers...)
	case j.p.entry.PredicateType == pgplog.ManifestPredicateType:
		keys = append(keys, j.p.entry.SignerKeyIDs[0])
	}
	return keys, nil
}

// First returns the evidence row of the digest's first publication, nil
// when nothing published it.
func (pb *DigestPublisher) First() *store.Evidence {
	if pb.j.p.entry == nil {
		return nil
	}
	e := *pb.j.p.entry
	return &e
}

// Entries returns the entries naming the digest that show who publishes
// it, newest first: its first publication and each of Keys' newest
// genuine entry naming it (recordtype.Genuine), of predicateType when
// not empty. Anyone may log entries naming the digest, so the newest of
// all of them could be a stranger's alone; these are read by key, and
// what others logged is never read.
func (pb *DigestPublisher) Entries(ctx context.Context, predicateType string) ([]store.Evidence, error) {
	first := pb.First()
	if first == nil {
		return nil, nil
	}
	var out []store.Evidence
	if predicateType == "" || first.PredicateType == predicateType {
		out = append(out, *first)
	}
	keys, err := pb.Keys(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		ev, err := pb.j.s.store.Evidence(ctx, store.EvidenceQuery{Digests: []digest.Digest{pb.j.d}, PredicateType: predicateType, SignerKeyID: k, Limit: keyPage})
		if err != nil {
			return nil, fmt.Errorf("revocation: entries of %s naming %s: %w", k, pb.j.d, err)
		}
		if i := slices.IndexFunc(ev, func(e store.Evidence) bool { return recordtype.Genuine(e.PayloadType, e.PredicateType) }); i >= 0 {
			out = append(out, ev[i])
		}
	}
	slices.SortFunc(out, func(a, b store.Evidence) int { return cmp.Compare(b.Seq, a.Seq) })
	return slices.CompactFunc(out, func(a, b store.Evidence) bool { return a.Seq == b.Seq }), nil
}

// keyPage bounds the entries of one publisher key Entries reads to find
// its newest genuine one naming a digest.
const keyPage = 8

// Is reports whether key k is a publisher of the digest (IsPublisher),
// asking about each key once.
func (pb *DigestPublisher) Is(ctx context.Context, k string) (bool, error) {
	if pb.j.p.entry == nil {
		return false, nil
	}
	return pb.j.is(ctx, k)
}

// Wrote returns the sequence numbers of those of entries the publisher
// wrote (see WrittenByPublisher).
func (pb *DigestPublisher) Wrote(ctx context.Context, entries ...store.EntryMeta) ([]int64, error) {
	if pb.j.p.entry == nil {
		return nil, nil
	}
	if err := pb.j.readTUF(ctx, entries); err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range entries {
		ok, err := pb.j.wrote(ctx, e)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, e.Seq)
		}
	}
	return out, nil
}

// judge tells which log entries the publisher of d, whose first
// publication is p, wrote, remembering its answer for each signer and the
// signers of p's TUF role.
type judge struct {
	s    *Service
	p    publication
	d    digest.Digest
	keys map[string]bool
	// role holds the signers of p's TUF role once roleRead.
	role     []string
	roleRead bool
	// tuf holds the descriptors of the TUF entries read (readTUF), by
	// sequence number; a zero descriptor: not published TUF metadata.
	tuf map[int64]tufstore.Descriptor
}

// needsTUF reports whether judging e needs its TUF descriptor: it is TUF
// metadata, and the publisher a TUF role.
func (j *judge) needsTUF(e store.EntryMeta) bool {
	return j.p.role != nil && e.PredicateType == tufstore.PredicateType && recordtype.WrittenByOwner(e.PayloadType, e.PredicateType)
}

// readTUF reads the descriptors of those of entries that need one and
// are not read yet, all at once (Service.publishedTUF).
func (j *judge) readTUF(ctx context.Context, entries []store.EntryMeta) error {
	var seqs []int64
	for _, e := range entries {
		if _, read := j.tuf[e.Seq]; j.needsTUF(e) && !read {
			seqs = append(seqs, e.Seq)
		}
	}
	if len(seqs) == 0 {
		return nil
	}
	descs, err := j.s.publishedTUF(ctx, seqs...)
	if err != nil {
		return err
	}
	if j.tuf == nil {
		j.tuf = map[int64]tufstore.Descriptor{}
	}
	for _, seq := range seqs {
		j.tuf[seq] = descs[seq]
	}
	return nil
}

// wrote reports whether entry e is by the publisher.
func (j *judge) wrote(ctx context.Context, e store.EntryMeta) (bool, error) {
	if j.needsTUF(e) {
		if err := j.readTUF(ctx, []store.EntryMeta{e}); err != nil {
			return false, err
		}
		if desc := j.tuf[e.Seq]; desc.Repo == j.p.role.Repo && desc.Role == j.p.role.Role {
			return true, nil
		}
	}
	for _, k := range e.SignerKeyIDs {
		if ok, err := j.is(ctx, k); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// is reports whether key k is a publisher of d, asking once per key.
func (j *judge) is(ctx context.Context, k string) (bool, error) {
	if ok, asked := j.keys[k]; asked {
		return ok, nil
	}
	ok, err := j.publisher(ctx, k)
	if err != nil {
		return false, err
	}
	j.keys[k] = ok
	return ok, nil
}

// publisher reports whether key k is a publisher of d.
func (j *judge) publisher(ctx context.Context, k string) (bool, error) {
	if ok, err := j.s.attested(ctx, k, []digest.Digest{j.d}); err != nil || ok {
		return ok, err
	}
	signers, err := j.roleSigners(ctx)
	if err != nil {
		return false, err
	}
	return publishes(j.p, signers, k), nil
}

// roleSigners returns the signers of p's TUF role (none without one),
// read once.
func (j *judge) roleSigners(ctx context.Context) ([]string, error) {
	if j.p.role != nil && !j.roleRead {
		var err error
		if j.role, err = j.s.roleSigners(ctx, *j.p.role); err != nil {
			return nil, err
		}
		j.roleRead = true
	}
	return j.role, nil
}

// attested reports whether k is one of Config.AttestationPublishers and
// attested any of ds.
func (s *Service) attested(ctx context.Context, k string, ds []digest.Digest) (bool, error) {
	if !slices.Contains(s.cfg.AttestationPublishers, k) {
		return false, nil
	}
	return s.signedEvidence(ctx, ds, k, "", recordtype.Attestation)
}

// publication is the first record in the log that published a digest.
type publication struct {
	// entry is the evidence row of the record (nil: never published).
	entry *store.Evidence
	// role is the TUF role whose metadata it is (version 0), when TUF.
	role *tufstore.Descriptor
}

// firstPublication finds the first publication of d: the earliest of the
// TUF targets metadata tufstore published listing d, the OpenPGP
// manifests pgplog published listing d and the attestations of d by a
// configured attestation publisher. Each search reads oldest first, ends
// at the first entry that counts and reads nothing after the earliest
// found so far: what came after the first publication (a mirror's
// listings, anyone's entries) is never read, however much of it there is.
func (s *Service) firstPublication(ctx context.Context, d digest.Digest) (publication, error) {
	ds := []digest.Digest{d}
	byOwner := func(e store.Evidence) bool { return recordtype.WrittenByOwner(e.PayloadType, e.PredicateType) }
	var p publication
	search := func(q store.EvidenceQuery, counts func(store.Evidence) bool) (*store.Evidence, error) {
		if p.entry != nil {
			q.BeforeSeq = p.entry.Seq
		}
		e, err := s.earliest(ctx, q, counts)
		if e != nil {
			p.entry = e
		}
		return e, err
	}
	first, err := search(store.EvidenceQuery{Digests: ds, PredicateType: tufstore.PredicateType}, byOwner)
	if err != nil {
		return publication{}, err
	}
	if _, err := search(store.EvidenceQuery{Digests: ds, PredicateType: pgplog.ManifestPredicateType},
		func(e store.Evidence) bool { return byOwner(e) && len(e.SignerKeyIDs) == 1 }); err != nil {
		return publication{}, err
	}
	for _, k := range s.cfg.AttestationPublishers {
		if _, err := search(store.EvidenceQuery{Digests: ds, SignerKeyID: k},
			func(e store.Evidence) bool { return recordtype.Attestation(e.PayloadType, e.PredicateType) }); err != nil {
			return publication{}, err
		}
	}
	if p.entry == nil || p.entry != first {
		return p, nil
	}
	st, err := s.store.Statement(ctx, first.Seq)
	if err != nil {
		return publication{}, fmt.Errorf("revocation: TUF entry %d: %w", first.Seq, err)
	}
	role, err := tufstore.Describe(st)
	if err != nil {
		return publication{}, fmt.Errorf("revocation: TUF entry %d: %w", first.Seq, err)
	}
	role.Version = 0
	p.role = &role
	return p, nil
}

// earliestPage bounds the entries one step of the search for a first
// publication reads: the first that counts is usually the first read.
const earliestPage = 16

// earliest returns the oldest evidence row q finds that counts, nil if
// none does.
func (s *Service) earliest(ctx context.Context, q store.EvidenceQuery, counts func(store.Evidence) bool) (*store.Evidence, error) {
	q.OldestFirst, q.Limit = true, earliestPage
	for {
		ev, err := s.store.Evidence(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("revocation: publication of %s: %w", q.Digests[0], err)
		}
		for i := range ev {
			if counts(ev[i]) {
				return &ev[i], nil
			}
		}
		if len(ev) < q.Limit {
			return nil, nil
		}
		q.AfterSeq = ev[len(ev)-1].Seq
	}
}

// publishes reports whether key k is the publisher p names: a key signing
// the current metadata of its TUF role (roleSigners, read by the caller),
// or its manifest's signer. (A first publication by an attestation
// publisher names nobody else.)
func publishes(p publication, roleSigners []string, k string) bool {
	switch {
	case p.entry == nil:
		return false
	case p.role == nil:
		return p.entry.PredicateType == pgplog.ManifestPredicateType && p.entry.SignerKeyIDs[0] == k
	}
	return slices.Contains(roleSigners, k)
}

// roleSigners returns the keys signing the current metadata of TUF role
// r.
func (s *Service) roleSigners(ctx context.Context, r tufstore.Descriptor) ([]string, error) {
	cur, err := s.store.TUFMetadata(ctx, r.Repo, r.Role, 0)
	if err != nil {
		return nil, fmt.Errorf("revocation: TUF %s %s: %w", r.Repo, r.Role, err)
	}
	var doc struct {
		Signatures []struct {
			KeyID string `json:"keyid"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(cur, &doc); err != nil {
		return nil, fmt.Errorf("revocation: TUF %s %s: %w", r.Repo, r.Role, err)
	}
	out := make([]string, len(doc.Signatures))
	for i, sg := range doc.Signatures {
		out[i] = sg.KeyID
	}
	return out, nil
}

// signedEvidence reports whether k signed a log entry naming any of ds
// (of predicateType, when set) that counts by its types.
func (s *Service) signedEvidence(ctx context.Context, ds []digest.Digest, k, predicateType string, counts func(payloadType, predicateType string) bool) (bool, error) {
	for before := int64(0); ; {
		ev, err := s.store.Evidence(ctx, store.EvidenceQuery{Digests: ds, PredicateType: predicateType, SignerKeyID: k,
			BeforeSeq: before, Limit: evidencePage})
		if err != nil {
			return false, fmt.Errorf("revocation: publisher of %s: %w", ds[0], err)
		}
		for _, e := range ev {
			if counts(e.PayloadType, e.PredicateType) {
				return true, nil
			}
		}
		if len(ev) < evidencePage {
			return false, nil
		}
		before = ev[len(ev)-1].Seq
	}
}
