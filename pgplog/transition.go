package pgplog

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

// The log types of an imported key transition statement.
const (
	TransitionPayloadType   = recordtype.PGPTransitionPayloadType
	TransitionPredicateType = recordtype.PGPTransition
)

// TransitionRecord is what the log stores for a key transition statement
// (see pgp.TransitionRecord).
type TransitionRecord = pgp.TransitionRecord

// Imported is the outcome of ImportTransition.
type Imported struct {
	Entry      store.Statement
	Created    bool
	Transition pgp.Transition
}

// ImportTransition imports a clearsigned key transition statement (see
// pgp.TransitionFormat) as a rotation from the old key to the new key the
// text names: both keys must be registered, the statement must carry
// exactly one signature by each, both must verify, and both keys must be
// in force when trustd observes it (now): not revoked, not expired, not
// already superseded. The log keeps the statement verbatim
// (TransitionRecord) under TransitionPredicateType, signed by both keys,
// about the new key's certificate (KeySubject); from then on it is a
// rotation fact like a DSSE rotation (Facts), and the revocation index
// records the old key as superseded. Nothing is stored on error.
// Errors: ErrInvalidManifest (empty input), ErrUnknownSigner, the pgp
// sentinels (ErrWrongKey for a missing signature or one not by the named
// keys; a *pgp.Refusal for a key not in force).
func (s *Service) ImportTransition(ctx context.Context, signed []byte) (Imported, error) {
	if len(signed) == 0 {
		return Imported{}, invalid("clearsigned", "required: the clearsigned key transition statement")
	}
	if len(signed) > pgp.MaxTransitionBytes {
		return Imported{}, fmt.Errorf("pgplog: clearsigned: %w: %d bytes, the limit for a key transition statement is %d", pgp.ErrTooLarge, len(signed), pgp.MaxTransitionBytes)
	}
	plain, err := pgp.ClearsignedText(signed)
	if err != nil {
		return Imported{}, fmt.Errorf("pgplog: clearsigned: %w", err)
	}
	text, err := pgp.ParseTransitionText(plain)
	if err != nil {
		return Imported{}, fmt.Errorf("pgplog: clearsigned: %w", err)
	}
	certs := map[string]*pgp.Certificate{}
	for _, role := range []struct{ name, fpr string }{{"old", text.Old}, {"new", text.New}} {
		c, err := s.certificate(ctx, role.fpr)
		if errors.Is(err, ErrUnknownSigner) {
			return Imported{}, fmt.Errorf("pgplog: %s key: %w: %s (named on line %d of the statement) is not a registered certificate; register it first (trustctl key add)",
				role.name, ErrUnknownSigner, role.fpr, map[string]int{"old": text.OldLine, "new": text.NewLine}[role.name])
		}
		if err != nil {
			return Imported{}, err
		}
		certs[role.fpr] = c
	}
	t, err := pgp.VerifyTransition(signed, func(fpr string) (*pgp.Certificate, bool) { c, ok := certs[fpr]; return c, ok })
	if err != nil {
		return Imported{}, fmt.Errorf("pgplog: clearsigned: %w", err)
	}
	rec, err := json.Marshal(TransitionRecord{Transition: signed})
	if err != nil {
		return Imported{}, fmt.Errorf("pgplog: encode transition record: %w", err)
	}
	// Importing the same statement again returns the original entry: the
	// old key is superseded by then, by this very statement.
	sum := sha256.Sum256(rec)
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		return Imported{}, fmt.Errorf("pgplog: transition record digest: %w", err)
	}
	switch prev, err := s.store.StatementByEnvelope(ctx, d); {
	case err == nil:
		return Imported{Entry: prev, Created: false, Transition: t}, nil
	case !errors.Is(err, store.ErrNotFound):
		return Imported{}, fmt.Errorf("pgplog: key transition: %w", err)
	}
	g, err := s.Graph(ctx)
	if err != nil {
		return Imported{}, err
	}
	now := time.Now()
	for i, info := range t.Signatures {
		if err := g.CheckSignature(info, now); err != nil {
			return Imported{}, fmt.Errorf("pgplog: the %s key's signature: %w", []string{"old", "new"}[i], err)
		}
	}
	st := store.Statement{
		PayloadType:   TransitionPayloadType,
		PredicateType: TransitionPredicateType,
		Envelope:      rec,
		Payload:       plain,
		// The two keys sign a rotation once: a copy of the statement in
		// other bytes (its signatures re-armored, their unhashed
		// subpackets changed) is the first entry, revoked if it is.
		SignedDigest: transitionDigest(plain),
		SignerKeyIDs: []string{t.Old, t.New},
		Subjects:     []store.StatementSubject{KeySubject(certs[t.New])},
	}
	entry, created, err := s.log.AppendVerified(ctx, st)
	if err != nil {
		return Imported{}, fmt.Errorf("pgplog: import key transition %s -> %s: %w", t.Old, t.New, err)
	}
	return Imported{Entry: entry, Created: created, Transition: t}, nil
}

// transitionFact reads a logged key transition statement as a rotation
// fact: verified with the registered certificates, or, when its
// signatures no longer verify, the rotation its text names with no
// signatures, so the chain verifier refuses it as unsigned rather than
// ignoring it.
func transitionFact(st store.Statement, certs func(string) (*pgp.Certificate, bool)) (pgp.RotationFact, error) {
	fact := pgp.RotationFact{ID: StatementID(st.Seq), Observed: st.RecordedAt}
	t, err := pgp.VerifyTransitionRecord(st.Envelope, certs)
	if err == nil {
		fact.Rotation, fact.Signatures = t.Rotation, t.Signatures
		return fact, nil
	}
	r, perr := pgp.ParseTransitionRecord(st.Envelope)
	if perr != nil {
		return pgp.RotationFact{}, fmt.Errorf("pgplog: facts: key transition %d: %w", st.Seq, perr)
	}
	fact.Rotation = r
	return fact, nil
}
