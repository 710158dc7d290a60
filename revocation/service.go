package revocation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// Config is a deployment's revocation authority.
type Config struct {
	// SecurityAuthority are the key ids of the deployment's security
	// authority (trustd --security-authority): SecurityThreshold of them,
	// signing one envelope together, may revoke (and reinstate) any key,
	// digest and token within SecurityScopes. Since a revocation in force
	// fails every verdict, one key alone should not hold that power.
	SecurityAuthority []string
	// SecurityThreshold is how many distinct SecurityAuthority keys must
	// sign a revocation that relies on the security authority (trustd
	// --security-authority-threshold); 0 means 1.
	SecurityThreshold int
	// SecurityScopes restrict what the security authority may revoke
	// (trustd --security-authority-scope, see ParseScope); none means
	// everything.
	SecurityScopes []Scope
	// TokenIssuers are the key ids of token issuers: they (and the
	// security authority) may revoke tokens by id (trustd --token-issuer).
	TokenIssuers []string
	// PGP, when set, grants digest authority along OpenPGP delegation
	// chains and makes the Checker honour OpenPGP revocation certificates
	// and rotations. Only its reads are used, so pgplog.New(store, nil)
	// will do.
	PGP *pgplog.Service
	// AttestationPublishers are key ids (or Sigstore signer ids) whose
	// attestations make them publishers of the digests they name (trustd
	// --attestation-publisher); see IsPublisher.
	AttestationPublishers []string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service judges revocation statements (Validator), indexes them
// (Indexer) and answers whether something is revoked (the Checker
// methods).
type Service struct {
	store store.Reader
	cfg   Config
	memo  *memo
}

// New returns a Service reading the store r.
func New(r store.Reader, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{store: r, cfg: cfg, memo: &memo{}}
}

// Validators returns the statement validator of PredicateType, for
// statement.Options: the statement must be a well-formed revocation whose
// signers hold authority for its target (see Authorize).
func (s *Service) Validators() map[string]statement.Validator {
	return map[string]statement.Validator{PredicateType: s.validate}
}

// Indexers returns the statement indexers of the revocation index, for
// statement.Options. Every source of revocation feeds the one index: a
// revocation statement (PredicateType) is judged again inside the
// append's transaction (so nothing committed since the validator ran
// slips past), then the entry and the target's new current state are
// recorded; an OpenPGP revocation certificate that pgplog logs
// (recordtype.PGPRevocation) is verified again and recorded as a
// revocation of the key (see indexPGP).
func (s *Service) Indexers() map[string]statement.Indexer {
	return map[string]statement.Indexer{PredicateType: s.index, recordtype.PGPRevocation: s.indexPGP, pgp.RotationPredicateType: s.indexRotation,
		recordtype.PGPTransition: s.indexRotation}
}

func (s *Service) validate(ctx context.Context, st envelope.Statement, signers []string) error {
	p, err := Parse(st)
	if err != nil {
		return err
	}
	return s.judge(ctx, p, signers)
}

// judge checks that a reinstatement has a revocation to lift and that the
// signers hold authority for the target.
func (s *Service) judge(ctx context.Context, p Predicate, signers []string) error {
	if p.Action == ActionReinstate {
		cur, err := s.lookup(ctx, p.Target)
		if err != nil {
			return err
		}
		if cur == nil || cur.Action != ActionRevoke {
			return fmt.Errorf("revocation: %s: %w: it is not revoked", p.Target, ErrNothingToReinstate)
		}
		// An OpenPGP revocation certificate or rotation is the key
		// holder's own, final word (OpenPGP has no way back): lifting it
		// here would leave the index saying one thing and every OpenPGP
		// chain decision another.
		if st, err := s.store.Statement(ctx, cur.Seq); err == nil && (st.PredicateType == recordtype.PGPRevocation || st.PredicateType == pgp.RotationPredicateType || st.PredicateType == recordtype.PGPTransition) {
			return fmt.Errorf("revocation: %s: %w: it is revoked by an OpenPGP revocation certificate or rotation (log entry %d), which cannot be lifted", p.Target, ErrInvalid, cur.Seq)
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("revocation: %s: %w", p.Target, err)
		}
		if err := s.pgpFinal(ctx, p.Target); err != nil {
			return err
		}
	}
	return s.Authorize(ctx, p.Target, signers)
}

// pgpFinal refuses to lift a revocation statement of OpenPGP key t while
// a revocation certificate of the key or a rotation from it is logged,
// valid or not: the index keeps one state per key, so the reinstatement
// would erase what that certificate or rotation says there (lookups,
// offline lists, tokens) while the chain decisions still count it; and a
// rotation the revoked key signed would become valid again.
func (s *Service) pgpFinal(ctx context.Context, t Target) error {
	if t.Kind != KindKey || s.cfg.PGP == nil || !pgp.ValidFingerprint(t.ID) {
		return nil
	}
	f, err := s.cfg.PGP.Facts(ctx)
	if err != nil {
		return fmt.Errorf("revocation: %s: %w", t, err)
	}
	for _, r := range f.Revocations {
		if r.Fingerprint == t.ID {
			return fmt.Errorf("revocation: %s: %w: an OpenPGP revocation certificate of the key is logged (log entry %s), which cannot be lifted", t, ErrInvalid, r.ID)
		}
	}
	for _, r := range f.Rotations {
		if r.Old == t.ID {
			return fmt.Errorf("revocation: %s: %w: a rotation from the key to %s is logged (log entry %s), which cannot be lifted", t, ErrInvalid, r.New, r.ID)
		}
	}
	return nil
}

// Authorize checks that the signers may revoke or reinstate t, and returns
// ErrUnauthorized with every signer's reason otherwise. A signer that is
// itself revoked now holds no authority. Who may:
//   - a key: the key itself, or the security authority;
//   - a statement: one of its signers;
//   - a digest: the security authority; its publisher (IsPublisher: who
//     published it first, not a mirror listing it later); when a manifest
//     published it first, any key whose OpenPGP delegation chain (in force
//     now) leads from it to that manifest's publisher for the name it was
//     published under, or any key that publisher delegated that name to;
//   - a token: a configured token issuer, or the security authority.
//
// One signer with authority of its own suffices. The security authority
// acts only as SecurityThreshold distinct keys of SecurityAuthority
// signing together, and only within SecurityScopes (see
// securityAuthority).
func (s *Service) Authorize(ctx context.Context, t Target, signers []string) error {
	if len(signers) == 0 {
		return fmt.Errorf("revocation: %s: %w: no verified signature", t, ErrUnauthorized)
	}
	now := s.cfg.Now()
	var why, authority []string
	for _, k := range signers {
		rev, err := s.KeyRevoked(ctx, k, now, now)
		if err != nil {
			return err
		}
		if rev != nil {
			why = append(why, fmt.Sprintf("key %s is revoked (%s, effective %s)", k, rev.Reason, rev.Effective.Format(time.RFC3339)))
			continue
		}
		reason, err := s.authorityOf(ctx, t, k, now)
		if err != nil {
			return err
		}
		if reason == "" {
			return nil
		}
		if t.Kind != KindStatement && slices.Contains(s.cfg.SecurityAuthority, k) {
			// Judged below, with the other authority keys that signed.
			authority = append(authority, k)
			continue
		}
		why = append(why, fmt.Sprintf("key %s %s", k, reason))
	}
	if len(authority) > 0 {
		reason, err := s.securityAuthority(ctx, t, authority)
		if err != nil || reason == "" {
			return err
		}
		why = append(why, reason)
	}
	return fmt.Errorf("revocation: %s: %w: %s", t, ErrUnauthorized, strings.Join(why, "; "))
}

// authorityOf returns "" when key k may revoke t by authority of its own
// (not as a security authority key), else why not.
func (s *Service) authorityOf(ctx context.Context, t Target, k string, now time.Time) (string, error) {
	switch t.Kind {
	case KindKey:
		if _, err := s.store.Key(ctx, t.ID); errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("revocation: target.id: %w: key %s is not registered", ErrInvalid, t.ID)
		} else if err != nil {
			return "", fmt.Errorf("revocation: key %s: %w", t.ID, err)
		}
		if k == t.ID {
			return "", nil
		}
		return "is neither the key itself nor a security authority key", nil
	case KindToken:
		if slices.Contains(s.cfg.TokenIssuers, k) {
			return "", nil
		}
		return "is neither a token issuer nor a security authority key", nil
	case KindStatement:
		d, _ := digest.Parse(t.ID)
		st, err := s.store.StatementByEnvelope(ctx, d)
		if errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("revocation: target.id: %w: no statement with envelope digest %s is in the log", ErrInvalid, t.ID)
		}
		if err != nil {
			return "", fmt.Errorf("revocation: statement %s: %w", t.ID, err)
		}
		if st.PredicateType == PredicateType {
			return "", fmt.Errorf("revocation: target.id: %w: statement %d is itself a revocation; lift it with a reinstatement of its target instead", ErrInvalid, st.Seq)
		}
		if slices.Contains(st.SignerKeyIDs, k) {
			return "", nil
		}
		return fmt.Sprintf("did not sign statement %d (signed by %s)", st.Seq, strings.Join(st.SignerKeyIDs, ", ")), nil
	case KindDigest:
		return s.digestAuthority(ctx, t.ID, k, now)
	}
	return "", fmt.Errorf("revocation: target.kind: %w: %q", ErrInvalid, t.Kind)
}

func (s *Service) digestAuthority(ctx context.Context, id, k string, now time.Time) (string, error) {
	d, err := digest.Parse(id)
	if err != nil {
		return "", fmt.Errorf("revocation: target.id: %w: %w", ErrInvalid, err)
	}
	if ok, err := s.IsPublisher(ctx, k, d); err != nil || ok {
		return "", err
	}
	if s.cfg.PGP != nil {
		ok, err := s.pgpAuthority(ctx, d, k, now)
		if err != nil || ok {
			return "", err
		}
	}
	return "holds no authority for it: not a security authority key, not its publisher (a key of the TUF targets role that published it first, " +
		"the OpenPGP key of the manifest that published it first, a configured attestation publisher that attested it; a repository or " +
		"manifest listing it later is a mirror's), and no OpenPGP delegation in force covers the name it was first published under", nil
}

// pgpAuthority reports whether OpenPGP key k may revoke d through a
// delegation chain in force now, linking k and the publisher of the
// manifest that first published d, for the name it lists d under (a
// manifest listing d later is a mirror's: see IsPublisher).
func (s *Service) pgpAuthority(ctx context.Context, d digest.Digest, k string, now time.Time) (bool, error) {
	if !pgp.ValidFingerprint(k) {
		return false, nil
	}
	p, err := s.firstPublication(ctx, d)
	if err != nil || p.entry == nil || p.role != nil || p.entry.PredicateType != pgplog.ManifestPredicateType {
		return false, err
	}
	return s.pgpManifestAuthority(ctx, d, *p.entry, k, now)
}

// pgpManifestAuthority reports whether OpenPGP key k is linked by a
// delegation chain in force now to the publisher of the manifest of
// evidence entry e, for a name under which it lists d.
func (s *Service) pgpManifestAuthority(ctx context.Context, d digest.Digest, e store.Evidence, k string, now time.Time) (bool, error) {
	if len(e.SignerKeyIDs) != 1 {
		return false, nil
	}
	publisher := e.SignerKeyIDs[0]
	st, err := s.store.Statement(ctx, e.Seq)
	if err != nil {
		return false, fmt.Errorf("revocation: manifest %d: %w", e.Seq, err)
	}
	for _, sub := range st.Subjects {
		if !slices.Contains(sub.Digests, d) {
			continue
		}
		for _, q := range []pgplog.Query{
			{Name: sub.Name, Signer: publisher, SignedAt: now, Roots: []string{k}}, // k delegated the name down to the publisher
			{Name: sub.Name, Signer: k, SignedAt: now, Roots: []string{publisher}}, // the publisher delegated the name to k
		} {
			_, err := s.cfg.PGP.Decide(ctx, q)
			if err == nil {
				return true, nil
			}
			if !errors.Is(err, pgp.ErrRefused) {
				return false, fmt.Errorf("revocation: digest %s: %w", d, err)
			}
		}
	}
	return false, nil
}

// index is the Indexer of PredicateType.
func (s *Service) index(ctx context.Context, w store.Writer, entry store.Statement) error {
	p, err := ParseEntry(entry)
	if err != nil {
		return fmt.Errorf("revocation: index %d: %w", entry.Seq, err)
	}
	// The same judgement as the validator's, read through the transaction.
	in := &Service{store: w, cfg: s.cfg, memo: &memo{}}
	if err := in.judge(ctx, p, entry.SignerKeyIDs); err != nil {
		return err
	}
	return put(ctx, w, Record{Target: p.Target, Action: p.Action, Reason: p.Reason, Effective: p.Effective.UTC(),
		Revokers: entry.SignerKeyIDs, Seq: entry.Seq, RecordedAt: entry.RecordedAt})
}
