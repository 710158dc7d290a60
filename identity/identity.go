// Package identity tells which registered keys are bound to a verified
// identity, the Sybil control of reputation queries (feedback.Identities):
// a key bound both ways to a Sigstore (OIDC) identity through signed,
// logged statements, or an OpenPGP certificate certified by a trusted root.
//
// Sigstore binding: the key holder signs, with the registered key, an
// in-toto statement of predicate type BindingPredicateType whose predicate
// names the key id and the identity's OIDC issuer and subject, and the
// identity holder signs the same claim keylessly, with any Sigstore client
// that signs a given in-toto statement, as a Sigstore bundle that attest
// verifies against the deployment's trusted root. Both are logged; only
// the pair binds, so neither side can claim the other alone. The statement
// names two subjects: the key (sha256 of its canonical form, which is its
// TUF key id) and the identity (sha256 of its signer id string), so both
// sides are found by digest. An identity vouches for one key at a time,
// the one its newest binding names, so an OIDC account cannot verify a
// crowd of voter keys. Revoking the key or its binding statement undoes
// the binding (a revoked statement of either side stops counting), and the
// identity undoes its side by binding another key.
//
// OpenPGP: a registered certificate is verified when it is one of the
// configured roots, or when it carries (as registered) a valid
// certification by a root over one of its user ids (gpg --sign-key), made
// before any revocation of the root; the certificate itself must be valid
// and not revoked.
package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/internal/strictjson"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// BindingPredicateType is the predicate type of a Sigstore identity
// binding statement.
const BindingPredicateType = recordtype.IdentityBinding

// Bounds.
const (
	// MaxBindings bounds the binding statements read per key or identity.
	MaxBindings = 64
	// MaxPGPRoots bounds the configured OpenPGP roots.
	MaxPGPRoots = 64
	// maxField bounds the predicate's strings.
	maxField = 1024
	// maxPredicate bounds the predicate as a whole.
	maxPredicate = 4 * maxField
)

// Errors callers branch on.
var (
	// ErrInvalidBinding means a binding statement is malformed.
	ErrInvalidBinding = errors.New("invalid identity binding")
	// ErrInvalidRoot means a configured OpenPGP root is not a fingerprint.
	ErrInvalidRoot = errors.New("invalid OpenPGP identity root")
	// ErrRepeatedBinding means a side signed the same binding before: a
	// binding counts once, at its first log entry.
	ErrRepeatedBinding = errors.New("identity binding already logged")
)

// Binding is the predicate of a binding statement: the key and the
// Sigstore identity (certificate OIDC issuer and subject) it binds.
type Binding struct {
	KeyID   string `json:"keyId"`
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
}

// SignerID is the Sigstore signer id of the bound identity.
func (b Binding) SignerID() string {
	return policy.SigstoreIdentity{Issuer: b.Issuer, Subject: b.Subject}.SignerID()
}

// ParseBinding parses and checks a binding predicate.
func ParseBinding(predicate []byte) (Binding, error) {
	bad := func(field, reason string) error {
		return inputerr.New("identity: binding", field, ErrInvalidBinding, reason)
	}
	if len(predicate) > maxPredicate {
		return Binding{}, bad("predicate", fmt.Sprintf("%d bytes, at most %d", len(predicate), maxPredicate))
	}
	var b Binding
	if field, reason, err := strictjson.Decode(predicate, &b); err != nil {
		return Binding{}, inputerr.Wrap("identity: binding", strictjson.Join("predicate", field), ErrInvalidBinding,
			"not a JSON object of keyId, issuer and subject: "+reason, err)
	}
	for _, f := range []struct{ name, v string }{{"predicate.keyId", b.KeyID}, {"predicate.issuer", b.Issuer}, {"predicate.subject", b.Subject}} {
		switch {
		case f.v == "":
			return Binding{}, bad(f.name, "required")
		case len(f.v) > maxField:
			return Binding{}, bad(f.name, fmt.Sprintf("%d bytes, at most %d", len(f.v), maxField))
		}
	}
	if !isKeyID(b.KeyID) {
		return Binding{}, bad("predicate.keyId", "not a key id (64 lowercase hex digits); OpenPGP keys are verified by certification instead")
	}
	if _, ok := policy.ParseSignerID(b.SignerID()); !ok || containsHash(b.Issuer) {
		return Binding{}, bad("predicate.issuer", "an OIDC issuer URL without '#'")
	}
	return b, nil
}

func containsHash(s string) bool { return strings.Contains(s, "#") }

func isKeyID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// KeyDigest is the subject digest of a registered key in a binding: its
// key id, the sha256 of the key's canonical form.
func KeyDigest(keyID string) (digest.Digest, error) {
	raw, err := hex.DecodeString(keyID)
	if err != nil || !isKeyID(keyID) {
		return digest.Digest{}, inputerr.New("identity: binding", "predicate.keyId", ErrInvalidBinding, "not a key id (64 lowercase hex digits)")
	}
	return digest.New(digest.SHA256, raw)
}

// IdentityDigest is the subject digest of a Sigstore identity in a
// binding: the sha256 of its signer id ("sigstore:ISSUER#SUBJECT").
func IdentityDigest(signerID string) digest.Digest {
	sum := sha256.Sum256([]byte(signerID))
	d, _ := digest.New(digest.SHA256, sum[:])
	return d
}

// Statement returns the in-toto statement (JSON) that both sides of a
// binding sign.
func Statement(b Binding) ([]byte, error) {
	kd, err := KeyDigest(b.KeyID)
	if err != nil {
		return nil, err
	}
	pred, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return envelope.NewStatement(BindingPredicateType, pred,
		envelope.Subject{Name: "key:" + b.KeyID, Digests: []digest.Digest{kd}},
		envelope.Subject{Name: b.SignerID(), Digests: []digest.Digest{IdentityDigest(b.SignerID())}})
}

// checkStatement checks a binding statement's predicate and subjects, and
// returns the binding.
func checkStatement(st envelope.Statement) (Binding, error) {
	b, err := ParseBinding(st.Predicate)
	if err != nil {
		return Binding{}, err
	}
	kd, _ := KeyDigest(b.KeyID)
	want := []digest.Digest{kd, IdentityDigest(b.SignerID())}
	var got []digest.Digest
	for _, s := range st.Subjects {
		got = append(got, s.Digests...)
	}
	if len(got) != 2 || !slices.Contains(got, want[0]) || !slices.Contains(got, want[1]) {
		return Binding{}, inputerr.New("identity: binding", "subject", ErrInvalidBinding,
			fmt.Sprintf("must be exactly the key (%s) and the identity (%s)", want[0], want[1]))
	}
	return b, nil
}

// Revocations says whether keys and log entries are revoked; the
// revocation package's Service implements it.
type Revocations interface {
	// KeyRevoked returns the revocation that voids a signature by keyID
	// claiming signed and first observed at observed (the one time rule,
	// package timerule), or nil.
	KeyRevoked(ctx context.Context, keyID string, signed, observed time.Time) (*revocation.Record, error)
	// StatementRevoked returns the revocation that voids log entry seq,
	// signed at signedAt, or nil.
	StatementRevoked(ctx context.Context, seq int64, signedAt time.Time) (*revocation.Record, error)
}

// Options configure a Verifier.
type Options struct {
	// PGPRoots are the fingerprints of the OpenPGP certificates whose
	// certifications verify an identity.
	PGPRoots []string
	// Revocations, when set, undoes bindings and certifications of revoked
	// keys and statements.
	Revocations Revocations
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Verifier implements feedback.Identities over the store. It is safe for
// concurrent use.
type Verifier struct {
	store store.Reader
	opts  Options
	// roots caches parsed root certificates by fingerprint: a registered
	// key never changes.
	roots sync.Map
	// snap is VerifiedKeys' last snapshot of the store.
	snap atomic.Pointer[snapshot]
}

// New returns a Verifier over s. Errors: ErrInvalidRoot.
func New(s store.Reader, opts Options) (*Verifier, error) {
	if len(opts.PGPRoots) > MaxPGPRoots {
		return nil, fmt.Errorf("identity: %w: %d roots, at most %d", ErrInvalidRoot, len(opts.PGPRoots), MaxPGPRoots)
	}
	roots := make([]string, 0, len(opts.PGPRoots))
	for _, r := range opts.PGPRoots {
		f, err := pgp.NormalizeFingerprint(r)
		if err != nil {
			return nil, fmt.Errorf("identity: %w: %q: %w", ErrInvalidRoot, r, err)
		}
		roots = append(roots, f)
	}
	opts.PGPRoots = roots
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{store: s, opts: opts}, nil
}

// Validators returns the validator of binding statements submitted as
// DSSE envelopes, for statement.Options.Validators: the predicate and
// subjects must be well formed and the named key must be a signer.
// Sigstore bundles are checked when read (Verified), since attest appends
// them as verified records.
func (v *Verifier) Validators() map[string]statement.Validator {
	return map[string]statement.Validator{
		BindingPredicateType: func(_ context.Context, st envelope.Statement, signers []string) error {
			b, err := checkStatement(st)
			if err != nil {
				return err
			}
			if !slices.Contains(signers, b.KeyID) {
				return inputerr.New("identity: binding", "predicate.keyId", ErrInvalidBinding,
					fmt.Sprintf("key %s did not sign this envelope; the bound key signs its own binding", b.KeyID))
			}
			return nil
		},
	}
}

// Verified reports whether keyID is bound to a verified identity.
func (v *Verifier) Verified(ctx context.Context, keyID string) (bool, error) {
	k, err := v.store.Key(ctx, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("identity: key %s: %w", keyID, err)
	}
	now := v.opts.Now()
	if revoked, err := v.keyRevoked(ctx, keyID, now); err != nil || revoked {
		return false, err
	}
	if k.Type == pgp.KeyType {
		return v.certified(ctx, k, now)
	}
	return v.sigstoreBound(ctx, keyID)
}

func (v *Verifier) keyRevoked(ctx context.Context, keyID string, at time.Time) (bool, error) {
	if v.opts.Revocations == nil {
		return false, nil
	}
	r, err := v.opts.Revocations.KeyRevoked(ctx, keyID, at, at)
	if err != nil {
		return false, fmt.Errorf("identity: revocation of %s: %w", keyID, err)
	}
	return r != nil, nil
}

func (v *Verifier) statementRevoked(ctx context.Context, e store.Evidence) (bool, error) {
	if v.opts.Revocations == nil {
		return false, nil
	}
	r, err := v.opts.Revocations.StatementRevoked(ctx, e.Seq, e.RecordedAt)
	if err != nil {
		return false, fmt.Errorf("identity: revocation of entry %d: %w", e.Seq, err)
	}
	return r != nil, nil
}

// bindingAt reads and checks the binding statement at log entry e.
func (v *Verifier) bindingAt(ctx context.Context, e store.Evidence) (Binding, bool, error) {
	st, err := v.store.Statement(ctx, e.Seq)
	if err != nil {
		return Binding{}, false, fmt.Errorf("identity: entry %d: %w", e.Seq, err)
	}
	if !recordtype.Genuine(st.PayloadType, st.PredicateType) {
		return Binding{}, false, nil // neither a DSSE submission nor a Sigstore bundle
	}
	parsed, err := envelope.ParseStatement(envelope.PayloadTypeInToto, st.Payload, envelope.Limits{})
	if err != nil {
		return Binding{}, false, nil
	}
	b, err := checkStatement(parsed)
	return b, err == nil, nil
}

// sigstoreBound reports whether keyID signed an unrevoked binding to a
// Sigstore identity whose newest unrevoked binding names keyID. Both reads
// are filtered by signer, so only the key and the identity themselves can
// fill them: nobody else's statements can crowd a binding out.
func (v *Verifier) sigstoreBound(ctx context.Context, keyID string) (bool, error) {
	kd, err := KeyDigest(keyID)
	if err != nil {
		return false, nil
	}
	ev, err := v.store.Evidence(ctx, store.EvidenceQuery{Digests: []digest.Digest{kd}, PredicateType: BindingPredicateType,
		SignerKeyID: keyID, Limit: MaxBindings})
	if err != nil {
		return false, fmt.Errorf("identity: bindings of %s: %w", keyID, err)
	}
	tried := map[string]bool{}
	for _, e := range ev {
		b, ok, err := v.bindingAt(ctx, e)
		if err != nil {
			return false, err
		}
		if !ok || b.KeyID != keyID || tried[b.SignerID()] {
			continue
		}
		if revoked, err := v.statementRevoked(ctx, e); err != nil {
			return false, err
		} else if revoked {
			continue
		}
		tried[b.SignerID()] = true
		if newest, err := v.newestBinding(ctx, b.SignerID()); err != nil {
			return false, err
		} else if newest == keyID {
			return true, nil
		}
	}
	return false, nil
}

// newestBinding returns the key named by the newest valid, unrevoked
// binding the identity signed.
func (v *Verifier) newestBinding(ctx context.Context, id string) (string, error) {
	ev, err := v.store.Evidence(ctx, store.EvidenceQuery{Digests: []digest.Digest{IdentityDigest(id)},
		PredicateType: BindingPredicateType, SignerKeyID: id, Limit: MaxBindings})
	if err != nil {
		return "", fmt.Errorf("identity: bindings of %s: %w", id, err)
	}
	for _, e := range ev {
		b, ok, err := v.bindingAt(ctx, e)
		if err != nil {
			return "", err
		}
		if !ok || b.SignerID() != id {
			continue
		}
		if revoked, err := v.statementRevoked(ctx, e); err != nil {
			return "", err
		} else if !revoked {
			return b.KeyID, nil
		}
	}
	return "", nil
}

// certified reports whether the OpenPGP certificate k is a root or is
// certified by one, at now.
func (v *Verifier) certified(ctx context.Context, k store.Key, now time.Time) (bool, error) {
	cert, err := pgp.ParseCertificate(k.PublicKey)
	if err != nil {
		return false, fmt.Errorf("identity: certificate %s: %w", k.ID, err)
	}
	if cert.Status(now).State != pgp.StateValid {
		return false, nil
	}
	if slices.Contains(v.opts.PGPRoots, k.ID) {
		return true, nil
	}
	for _, root := range v.opts.PGPRoots {
		rc, err := v.root(ctx, root)
		if err != nil {
			return false, err
		}
		if rc == nil {
			continue
		}
		for _, c := range cert.CertifiedBy(rc, now) {
			revoked, err := v.keyRevoked(ctx, root, c.Created)
			if err != nil {
				return false, err
			}
			if !revoked {
				return true, nil
			}
		}
	}
	return false, nil
}

// root returns the registered certificate of a root, or nil when it is
// not registered (yet) as an OpenPGP certificate.
func (v *Verifier) root(ctx context.Context, fingerprint string) (*pgp.Certificate, error) {
	if c, ok := v.roots.Load(fingerprint); ok {
		return c.(*pgp.Certificate), nil
	}
	k, err := v.store.Key(ctx, fingerprint)
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.Type != pgp.KeyType) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("identity: root %s: %w", fingerprint, err)
	}
	c, err := pgp.ParseCertificate(k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("identity: root %s: %w", fingerprint, err)
	}
	v.roots.Store(fingerprint, c)
	return c, nil
}
