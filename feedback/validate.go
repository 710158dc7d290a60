package feedback

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

const opValidate = "feedback: validate"

// common checks what every feedback statement shares: one signer (its
// author), one subject, a signed time not beyond the allowed skew, and
// the author's rate limit.
func (s *Service) common(ctx context.Context, st envelope.Statement, signers []string, ts time.Time) error {
	if len(signers) != 1 {
		return inputerr.New(opValidate, "signatures", ErrInvalidPredicate,
			fmt.Sprintf("a feedback statement is signed by exactly one registered key, its author; %d verified", len(signers)))
	}
	if len(st.Subjects) != 1 {
		return inputerr.New(opValidate, "subject", ErrInvalidPredicate,
			fmt.Sprintf("a feedback statement is about exactly one subject; got %d", len(st.Subjects)))
	}
	now := s.opts.Now()
	if ts.After(now.Add(s.opts.MaxSkew)) {
		return inputerr.New(opValidate, "predicate.timestamp", ErrFutureTimestamp,
			fmt.Sprintf("%s is more than %s ahead of the server's clock (%s)", ts.UTC().Format(time.RFC3339), s.opts.MaxSkew, now.UTC().Format(time.RFC3339)))
	}
	if rl := s.opts.RateLimit; rl.N > 0 {
		n, err := s.store.SignedSince(ctx, signers[0], PredicateTypes, now.Add(-rl.Per))
		if err != nil {
			return fmt.Errorf("feedback: rate limit: %w", err)
		}
		if n >= int64(rl.N) {
			return inputerr.New(opValidate, "signatures[0].keyid", ErrRateLimited,
				fmt.Sprintf("key %s already submitted %d feedback statements within %s (limit %d)", signers[0], n, rl.Per, rl.N))
		}
	}
	return nil
}

func (s *Service) validateVote(ctx context.Context, st envelope.Statement, signers []string) error {
	v, err := ParseVote(st.Predicate)
	if err != nil {
		return err
	}
	return s.common(ctx, st, signers, v.Timestamp)
}

// KeySubject is the in-toto subject of a trust statement about a
// registered key: the sha256 of the key as the registry stores it, named
// by its key id.
func KeySubject(k store.Key) envelope.Subject {
	sum := sha256.Sum256(k.PublicKey)
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		panic("feedback: sha256 digest of 32 bytes: " + err.Error()) // cannot happen
	}
	return envelope.Subject{Name: k.ID, Digests: []digest.Digest{d}}
}

func (s *Service) validateTrust(ctx context.Context, st envelope.Statement, signers []string) error {
	t, err := ParseTrust(st.Predicate)
	if err != nil {
		return err
	}
	if err := s.common(ctx, st, signers, t.Timestamp); err != nil {
		return err
	}
	if t.KeyID == signers[0] {
		return inputerr.New(opValidate, "predicate.keyid", ErrInvalidPredicate, "a key cannot state trust in itself")
	}
	k, err := s.store.Key(ctx, t.KeyID)
	if errors.Is(err, store.ErrNotFound) {
		return inputerr.New(opValidate, "predicate.keyid", ErrUnknownKey, fmt.Sprintf("key %s is not registered", t.KeyID))
	}
	if err != nil {
		return fmt.Errorf("feedback: trust: %w", err)
	}
	want := KeySubject(k)
	got := st.Subjects[0]
	if got.Name != want.Name || !slices.Equal(got.Digests, want.Digests) {
		return inputerr.New(opValidate, "subject[0]", ErrInvalidPredicate,
			fmt.Sprintf("the subject of a trust statement is the trusted key: name %s, digest %s", want.Name, want.Digests[0]))
	}
	return nil
}

func (s *Service) validateResponse(ctx context.Context, st envelope.Statement, signers []string) error {
	r, err := ParseResponse(st.Predicate)
	if err != nil {
		return err
	}
	if err := s.common(ctx, st, signers, r.Timestamp); err != nil {
		return err
	}
	ok, err := s.isPublisher(ctx, signers[0], st.Subjects[0].Digests)
	if err != nil {
		return err
	}
	if !ok {
		return inputerr.New(opValidate, "signatures[0].keyid", ErrNotPublisher,
			fmt.Sprintf("key %s is not a publisher of %s: not a key of the TUF targets role that published it first, not the OpenPGP key of the manifest that published it first, not a configured attestation publisher that attested it (a repository or manifest listing it later is a mirror's)", signers[0], st.Subjects[0].Digests[0]))
	}
	if r.InReplyTo != "" {
		return s.checkRepliedVote(ctx, r.InReplyTo, st.Subjects[0].Digests)
	}
	return nil
}

// checkRepliedVote makes sure a response answers a vote in the log about
// one of the response's digests.
func (s *Service) checkRepliedVote(ctx context.Context, envelopeDigest string, ds []digest.Digest) error {
	bad := func(reason string) error {
		return inputerr.New(opValidate, "predicate.inReplyTo", ErrInvalidPredicate, reason)
	}
	d, err := digest.Parse(envelopeDigest)
	if err != nil {
		return bad("not an envelope digest")
	}
	seq, err := s.store.StatementSeqByEnvelope(ctx, d)
	if errors.Is(err, store.ErrNotFound) {
		return bad(fmt.Sprintf("no log entry has envelope %s", d))
	}
	if err != nil {
		return fmt.Errorf("feedback: response: %w", err)
	}
	vote, err := s.store.Statement(ctx, seq)
	if err != nil {
		return fmt.Errorf("feedback: response: %w", err)
	}
	if vote.PredicateType != VotePredicateType || !recordtype.Genuine(vote.PayloadType, vote.PredicateType) {
		return bad(fmt.Sprintf("log entry %d is a %s, not a vote", seq, vote.PredicateType))
	}
	for _, subj := range vote.Subjects {
		for _, vd := range subj.Digests {
			if slices.Contains(ds, vd) {
				return nil
			}
		}
	}
	return bad(fmt.Sprintf("vote %d is about another artifact", seq))
}

// isPublisher reports whether keyID is a publisher of any of ds (see
// Publishers); with no Publishers configured nobody is.
func (s *Service) isPublisher(ctx context.Context, keyID string, ds []digest.Digest) (bool, error) {
	if s.opts.Publishers == nil {
		return false, nil
	}
	ok, err := s.opts.Publishers.IsPublisher(ctx, keyID, ds...)
	if err != nil {
		return false, fmt.Errorf("feedback: publisher of %s: %w", ds[0], err)
	}
	return ok, nil
}
