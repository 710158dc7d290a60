package attest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// Payload and predicate types of the records this package appends in
// formats other than a DSSE envelope. A Sigstore bundle's payload type is
// the bundle's media type.
const (
	// LayoutPayloadType and LayoutPredicateType label an in-toto v0.9
	// layout metablock ({"signed": layout, "signatures": …}) or an in-toto
	// 1.0 DSSE envelope of one; the stored bytes tell which.
	LayoutPayloadType   = recordtype.LayoutPayloadType
	LayoutPredicateType = recordtype.InTotoLayout
	// LinkPayloadType and LinkPredicateType label an in-toto v0.9 link
	// metablock or a DSSE envelope of one.
	LinkPayloadType   = recordtype.LinkPayloadType
	LinkPredicateType = recordtype.InTotoLink
	// MessageSignaturePredicateType labels a Sigstore bundle whose message
	// signature signs an artifact digest directly (cosign sign-blob).
	MessageSignaturePredicateType = recordtype.SigstoreMessageSig
	// bundleMediaTypePrefix starts every Sigstore bundle media type.
	bundleMediaTypePrefix = recordtype.BundlePayloadTypePrefix
)

// Kinds of attestation, by the format they were submitted in.
const (
	KindDSSE           = "dsse"
	KindSigstoreBundle = "sigstore-bundle"
	KindLayout         = "in-toto-layout"
	KindLink           = "in-toto-link"
	// KindCosign is a cosign key-based message signature (package
	// cosign's Record).
	KindCosign   = "cosign"
	KindNotation = "notation"
	// KindOther is a log entry of another kind (an OpenPGP manifest, TUF
	// metadata) that names the digest.
	KindOther = "other"
)

// KindOf returns the kind of a log entry with the given payload type.
func KindOf(payloadType string) string {
	switch {
	case payloadType == envelope.PayloadTypeInToto:
		return KindDSSE
	case strings.HasPrefix(payloadType, bundleMediaTypePrefix):
		return KindSigstoreBundle
	case payloadType == LayoutPayloadType:
		return KindLayout
	case payloadType == LinkPayloadType:
		return KindLink
	case payloadType == recordtype.CosignPayloadType:
		return KindCosign
	case strings.HasPrefix(payloadType, recordtype.NotationPayloadTypePrefix):
		return KindNotation
	}
	return KindOther
}

// DefaultMaxStatementBytes is the default bound on an attestation's
// in-toto statement, predicate included: large SBOMs fit.
const DefaultMaxStatementBytes = 16 << 20

// EnvelopeBound is the largest signed document (DSSE envelope, Sigstore
// bundle, in-toto metablock) that can carry a statement of maxStatement
// bytes (0: DefaultMaxStatementBytes): base64 grows it by a third, and
// signatures and certificates take some room.
func EnvelopeBound(maxStatement int) int {
	if maxStatement <= 0 {
		maxStatement = DefaultMaxStatementBytes
	}
	return maxStatement/3*4 + 4 + 64<<10
}

// RequestOverhead is the room a gRPC request takes around the document it
// carries (field tags, identity policy, digest): MaxStatementWithin keeps
// it free.
const RequestOverhead = 4 << 10

// MaxStatementWithin is the largest statement whose signed document
// (EnvelopeBound) still fits, with RequestOverhead, in a request of
// requestBytes; 0 when none does. trustd takes it as the attestation bound
// when --max-attestation-bytes is not set, so the request cap stays exact.
func MaxStatementWithin(requestBytes int) int {
	room := requestBytes - RequestOverhead - 4 - 64<<10
	if room < 0 {
		return 0
	}
	return room/4*3 + 2
}

// Revocations tells whether a log entry has been revoked. The revocation
// package implements it; attest only consults it, so that a listing says
// whether each attestation is still valid.
type Revocations interface {
	// StatementRevoked reports whether entry seq, signed by signers, is
	// revoked, and why.
	StatementRevoked(ctx context.Context, seq int64, signers []string) (why string, revoked bool, err error)
}

// BatchRevocations is Revocations answering for many log entries at once
// (revocation.AttestationView is one); List asks it once per page rather
// than once per entry.
type BatchRevocations interface {
	// StatementsRevoked says why each of entries is revoked ("" when it
	// is not), as StatementRevoked would entry by entry. The entries are
	// as the store gave them (Seq, EnvelopeDigest, SignerKeyIDs and
	// RecordedAt set), so nothing is read again.
	StatementsRevoked(ctx context.Context, entries []store.Statement) (why []string, err error)
}

// Options configure a Service.
type Options struct {
	// MaxStatementBytes bounds an attestation's statement (predicate
	// included); 0 means DefaultMaxStatementBytes.
	MaxStatementBytes int
	// Limits bound envelope decoding; zero fields mean envelope's
	// defaults. Give the same limits as the statement.Log's.
	Limits envelope.Limits
	// Sigstore is the trusted root Sigstore bundles verify against; nil
	// rejects bundles with ErrNoTrustedRoot.
	Sigstore *TrustedRoot
	// SigstoreRequireSCT requires bundle certificates to carry a signed
	// certificate timestamp from a CT log of the trusted root (Fulcio's
	// certificates do).
	SigstoreRequireSCT bool
	// Revocations, when set, marks revoked entries in listings; nil means
	// nothing is revoked.
	Revocations Revocations
	// Notation is the trust store and trust policy Notation signatures
	// verify against; nil rejects them with ErrNoNotationTrust.
	Notation *NotationTrust
}

// Service ingests, verifies and finds attestations.
type Service struct {
	store store.Store
	log   *statement.Log
	opts  Options
}

// New returns a Service over s that appends to l. l must run this
// package's Indexers and Validators (see Indexers and Validators).
func New(s store.Store, l *statement.Log, opts Options) *Service {
	if opts.MaxStatementBytes <= 0 {
		opts.MaxStatementBytes = DefaultMaxStatementBytes
	}
	return &Service{store: s, log: l, opts: opts}
}

// MaxDocumentBytes is the largest document Put accepts.
func (s *Service) MaxDocumentBytes() int { return EnvelopeBound(s.opts.MaxStatementBytes) }

// Attestation is one attestation as trustd shows it.
type Attestation struct {
	Seq            int64
	Kind           string
	PayloadType    string
	PredicateType  string
	SignerIDs      []string
	Subjects       []store.StatementSubject
	RecordedAt     time.Time
	EnvelopeDigest digest.Digest
	// Envelope is the signed document verbatim (Put and Get only).
	Envelope []byte
	// Index holds the indexed predicate fields; nil when opaque.
	Index *store.Attestation
	// Revoked and RevokedWhy say whether the attestation was revoked.
	Revoked    bool
	RevokedWhy string
}

// PutRequest is one submission.
type PutRequest struct {
	// Data is a DSSE envelope, a Sigstore bundle, an in-toto layout or
	// link (a v0.9 metablock or an in-toto 1.0 DSSE envelope, JSON), or a
	// cosign Record (package cosign) carrying what cosign signed with a
	// registered key, exactly as signed.
	Data []byte
	// Digest, when set, must be a subject of the attestation.
	Digest digest.Digest
	// Identity, when set, is required of a Sigstore bundle's certificate.
	Identity Identity
	// LayoutKeyIDs name the registered keys of a layout's owner; each must
	// have signed the layout. Required for layouts.
	LayoutKeyIDs []string
	// Layout is the log entry of the layout a link belongs to. Required
	// for links.
	Layout int64
}

// Put verifies an attestation and appends it to the log. Resubmitting one
// already in the log returns the original entry and false.
func (s *Service) Put(ctx context.Context, req PutRequest) (Attestation, bool, error) {
	if max := s.MaxDocumentBytes(); len(req.Data) > max {
		return Attestation{}, false, inputerr.New(opPut, "", ErrTooLarge,
			fmt.Sprintf("%d bytes, more than a statement within trustd --max-attestation-bytes=%d can take when signed (%d)",
				len(req.Data), s.opts.MaxStatementBytes, max))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(req.Data, &top); err != nil {
		return Attestation{}, false, inputerr.Wrap(opPut, "", ErrMalformed, "not a JSON object", err)
	}
	var (
		rec     store.Statement
		created bool
		err     error
	)
	notationRaw, isNotation := notationDocument(top)
	switch {
	case isNotation:
		rec, created, err = s.putNotation(ctx, req, notationRaw)
	case top["payloadType"] != nil:
		// An in-toto 1.0 (ITE-5) layout or link in a DSSE envelope has the
		// payload type of a statement; its payload's _type tells it apart.
		if signed, ok, perr := inTotoDSSEPayload(top); perr != nil {
			return Attestation{}, false, perr
		} else if ok {
			rec, created, err = s.putMetablock(ctx, req, signed)
			break
		}
		rec, created, err = s.putDSSE(ctx, req)
	case top["mediaType"] != nil:
		rec, created, err = s.putBundle(ctx, req)
	case top["signed"] != nil && top["signatures"] != nil:
		rec, created, err = s.putMetablock(ctx, req, top["signed"])
	case top["cosign"] != nil:
		rec, created, err = s.putCosign(ctx, req)
	default:
		return Attestation{}, false, inputerr.New(opPut, "", ErrMalformed,
			"not a DSSE envelope (payloadType, payload, signatures), a Sigstore bundle (mediaType, …), an in-toto metablock (signed, signatures), a cosign record (cosign, kind, keyid, data) or a Notation signature (notationSignature)")
	}
	if err != nil {
		return Attestation{}, false, err
	}
	a, err := s.view(ctx, rec)
	return a, created, err
}

// predicateOf reads the predicate of a stored in-toto statement payload,
// which was checked when it was appended.
func predicateOf(payload []byte) (json.RawMessage, error) {
	var st struct {
		Predicate json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, err
	}
	return st.Predicate, nil
}

func (s *Service) putDSSE(ctx context.Context, req PutRequest) (store.Statement, bool, error) {
	// A payload is three quarters of its base64 in the envelope, so only an
	// envelope larger than the statement bound can carry a statement over
	// it; only then, or to check the subject, is it decoded here as well as
	// by the log.
	if len(req.Data) > s.opts.MaxStatementBytes || !req.Digest.IsZero() {
		env, err := envelope.Decode(req.Data, s.envelopeLimits())
		if err != nil {
			return store.Statement{}, false, fmt.Errorf("attest: %w", err)
		}
		payload, err := env.DecodeB64Payload()
		if err != nil {
			return store.Statement{}, false, inputerr.Wrap(opPut, "payload", ErrMalformed, "not base64", err)
		}
		if len(payload) > s.opts.MaxStatementBytes {
			return store.Statement{}, false, inputerr.New(opPut, "payload", ErrTooLarge,
				fmt.Sprintf("the statement is %d bytes, over trustd --max-attestation-bytes=%d", len(payload), s.opts.MaxStatementBytes))
		}
		if !req.Digest.IsZero() {
			st, err := envelope.ParseStatement(env.PayloadType, payload, s.envelopeLimits())
			if err != nil {
				return store.Statement{}, false, fmt.Errorf("attest: %w", err)
			}
			if !statementNames(st, req.Digest) {
				return store.Statement{}, false, inputerr.New(opPut, "payload.subject", ErrDigestMismatch,
					fmt.Sprintf("the statement does not name %s", req.Digest))
			}
		}
	}
	rec, created, err := s.log.Submit(ctx, req.Data)
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("attest: %w", err)
	}
	return rec, created, nil
}

// envelopeLimits are the limits for documents up to the configured bound.
func (s *Service) envelopeLimits() envelope.Limits {
	lim := s.opts.Limits
	if lim.MaxEnvelopeBytes < s.MaxDocumentBytes() {
		lim.MaxEnvelopeBytes = s.MaxDocumentBytes()
	}
	return lim
}

func (s *Service) putBundle(ctx context.Context, req PutRequest) (store.Statement, bool, error) {
	tm := s.trustedMaterial()
	lim := s.envelopeLimits()
	lim.MaxEnvelopeBytes = s.opts.MaxStatementBytes
	res, err := VerifyBundle(tm, req.Data, BundlePolicy{Identity: req.Identity, Digest: req.Digest, RequireSCT: s.opts.SigstoreRequireSCT}, lim)
	if err != nil {
		return store.Statement{}, false, err
	}
	rec := store.Statement{
		PayloadType:  res.MediaType,
		Envelope:     req.Data,
		Payload:      res.Payload,
		SignerKeyIDs: []string{res.SignerID()},
	}
	var (
		out     store.Statement
		created bool
	)
	if res.MessageDigest.IsZero() {
		// The caller's own in-toto statement: a type callers may send in
		// a bundle (never one trustd writes itself), checked like a DSSE
		// submission's predicate.
		st := res.Statement
		if err := recordtype.CheckSubmit(recordtype.Bundle, st.PredicateType); err != nil {
			return store.Statement{}, false, fmt.Errorf("attest: bundle: %w", err)
		}
		if err := checkPredicateSize(st.Predicate, s.opts.MaxStatementBytes); err != nil {
			return store.Statement{}, false, err
		}
		idx, _, ierr := Index(st.PredicateType, st.Predicate)
		if ierr != nil {
			return store.Statement{}, false, fmt.Errorf("attest: bundle: %w", ierr)
		}
		if err := checkCallerIndex(idx); err != nil {
			return store.Statement{}, false, fmt.Errorf("attest: bundle: %w", err)
		}
		rec.PredicateType = st.PredicateType
		for _, sub := range st.Subjects {
			rec.Subjects = append(rec.Subjects, store.StatementSubject{Name: sub.Name, Digests: sub.Digests})
		}
		out, created, err = s.log.AppendBundle(ctx, rec)
	} else {
		// A message signature carries no statement; trustd names its type.
		// Its signer signs the artifact once: the bundle in other bytes is
		// the first entry.
		rec.PredicateType = MessageSignaturePredicateType
		rec.Subjects = []store.StatementSubject{{Digests: []digest.Digest{res.MessageDigest}}}
		rec.SignedDigest = messageDigest(res.MessageDigest)
		out, created, err = s.log.AppendVerified(ctx, rec)
	}
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("attest: bundle: %w", err)
	}
	return out, created, nil
}

// putNotation verifies a Notation signature against the server's trust
// store and policy and appends its envelope verbatim, as the record of the
// digest it signs; the same envelope again returns the original entry.
func (s *Service) putNotation(ctx context.Context, req PutRequest, raw json.RawMessage) (store.Statement, bool, error) {
	sig, err := ParseNotationDocument(raw)
	if err != nil {
		return store.Statement{}, false, err
	}
	res, err := VerifyNotation(ctx, s.opts.Notation, sig)
	if err != nil {
		return store.Statement{}, false, err
	}
	if !req.Digest.IsZero() && req.Digest != res.Digest {
		return store.Statement{}, false, inputerr.New(opNotation, "envelope.payload.targetArtifact.digest", ErrDigestMismatch,
			fmt.Sprintf("the signature signs %s, not %s", res.Digest, req.Digest))
	}
	rec := store.Statement{
		PayloadType:   res.PayloadType,
		PredicateType: NotationPredicateType,
		Envelope:      sig.Envelope,
		Payload:       res.Payload,
		SignedDigest:  envelope.PAEDigest(res.PayloadType, res.Payload),
		SignerKeyIDs:  []string{res.SignerID},
		Subjects:      []store.StatementSubject{{Digests: []digest.Digest{res.Digest}}},
	}
	out, created, err := s.log.AppendVerified(ctx, rec)
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("attest: notation: %w", err)
	}
	return out, created, nil
}

func (s *Service) trustedMaterial() root.TrustedMaterial {
	if s.opts.Sigstore == nil {
		return nil
	}
	return s.opts.Sigstore.Material()
}

// Query selects attestations naming a digest.
type Query struct {
	Digest        digest.Digest
	PredicateType string
	SignerID      string
	// PageToken continues a previous listing; empty starts at the newest.
	PageToken string
	PageSize  int
	// SkipRevocations leaves Revoked unset, for a caller that judges the
	// revocation of what it lists itself (the evidence builder, which
	// reads the states of a whole bundle at once).
	SkipRevocations bool
}

// List returns the attestations naming q.Digest (by exactly that digest;
// a statement listing several digests of a subject is found by each),
// newest first, and the token of the next page ("" when there is none).
func (s *Service) List(ctx context.Context, q Query) ([]Attestation, string, error) {
	var before int64
	if q.PageToken != "" {
		n, err := strconv.ParseInt(q.PageToken, 10, 64)
		if err != nil || n <= 0 {
			return nil, "", fmt.Errorf("attest: page_token %q: %w: not a token this server issued", q.PageToken, statement.ErrInvalidPage)
		}
		before = n
	}
	if q.PageSize <= 0 {
		return nil, "", fmt.Errorf("attest: page_size %d: %w: must be positive", q.PageSize, statement.ErrInvalidPage)
	}
	entries, err := s.store.Attestations(ctx, store.AttestationQuery{
		Digest: q.Digest, PredicateType: q.PredicateType, SignerKeyID: q.SignerID, BeforeSeq: before, Limit: q.PageSize + 1,
	})
	if err != nil {
		return nil, "", fmt.Errorf("attest: list %s: %w", q.Digest, err)
	}
	next := ""
	if len(entries) > q.PageSize {
		entries = entries[:q.PageSize]
		next = strconv.FormatInt(entries[len(entries)-1].Seq, 10)
	}
	out := FromEntries(entries)
	if !q.SkipRevocations {
		if err := s.revokedAll(ctx, out); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// FromEntries lists the attestations of index rows as List does, without
// their revocation state (what Query.SkipRevocations lists), for a caller
// that read the rows itself (store.DigestLookup).
func FromEntries(entries []store.AttestationEntry) []Attestation {
	out := make([]Attestation, 0, len(entries))
	for _, e := range entries {
		out = append(out, Attestation{
			Seq: e.Seq, Kind: KindOf(e.PayloadType), PayloadType: e.PayloadType, PredicateType: e.PredicateType,
			SignerIDs: e.SignerKeyIDs, RecordedAt: e.RecordedAt, Index: e.Index, EnvelopeDigest: e.EnvelopeDigest,
			Subjects: []store.StatementSubject{{Name: e.SubjectName, Digests: []digest.Digest{e.Digest}}},
		})
	}
	return out
}

// Get returns the attestation at log entry seq with its signed bytes.
// Errors: store.ErrNotFound.
func (s *Service) Get(ctx context.Context, seq int64) (Attestation, error) {
	rec, err := s.log.Get(ctx, seq)
	if err != nil {
		return Attestation{}, fmt.Errorf("attest: %w", err)
	}
	return s.view(ctx, rec)
}

// view completes a log entry with its index and revocation state.
func (s *Service) view(ctx context.Context, rec store.Statement) (Attestation, error) {
	a := Attestation{
		Seq: rec.Seq, Kind: KindOf(rec.PayloadType), PayloadType: rec.PayloadType, PredicateType: rec.PredicateType,
		SignerIDs: rec.SignerKeyIDs, Subjects: rec.Subjects, RecordedAt: rec.RecordedAt,
		EnvelopeDigest: rec.EnvelopeDigest, Envelope: rec.Envelope,
	}
	// The index is what the predicate's indexer stored; it is derived
	// again here rather than read back.
	if indexerFor(rec.PredicateType) != nil {
		predicate, err := predicateOf(rec.Payload)
		if err != nil {
			return Attestation{}, fmt.Errorf("attest: entry %d: payload: %w", rec.Seq, err)
		}
		idx, _, err := Index(rec.PredicateType, predicate)
		if err != nil {
			return Attestation{}, fmt.Errorf("attest: entry %d: %w", rec.Seq, err)
		}
		idx.Seq = rec.Seq
		a.Index = &idx
	}
	if err := s.revoked(ctx, &a); err != nil {
		return Attestation{}, err
	}
	return a, nil
}

// revokedAll marks the revoked attestations of as, asking once when the
// Revocations answers for many.
func (s *Service) revokedAll(ctx context.Context, as []Attestation) error {
	batch, ok := s.opts.Revocations.(BatchRevocations)
	if !ok || len(as) == 0 {
		for i := range as {
			if err := s.revoked(ctx, &as[i]); err != nil {
				return err
			}
		}
		return nil
	}
	entries := make([]store.Statement, len(as))
	for i, a := range as {
		entries[i] = store.Statement{Seq: a.Seq, EnvelopeDigest: a.EnvelopeDigest, SignerKeyIDs: a.SignerIDs, RecordedAt: a.RecordedAt}
	}
	why, err := batch.StatementsRevoked(ctx, entries)
	if err != nil {
		return fmt.Errorf("attest: revocation of %d entries: %w", len(entries), err)
	}
	for i := range as {
		as[i].Revoked, as[i].RevokedWhy = why[i] != "", why[i]
	}
	return nil
}

func (s *Service) revoked(ctx context.Context, a *Attestation) error {
	if s.opts.Revocations == nil {
		return nil
	}
	why, revoked, err := s.opts.Revocations.StatementRevoked(ctx, a.Seq, a.SignerIDs)
	if err != nil {
		return fmt.Errorf("attest: revocation of %d: %w", a.Seq, err)
	}
	a.Revoked, a.RevokedWhy = revoked, why
	return nil
}
