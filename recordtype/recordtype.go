// Package recordtype is trustd's one table of record types: for every
// predicate type in trustd's own namespace (https://trustd.dev/…), the
// paths that may append a record of it to the log, the payload type each
// path stores, and who may sign it. A record counts because of the path
// that appended it, never because of its type string: statement.Log
// enforces the table on every append, and every reader of evidence asks
// Origin or WrittenByOwner before trusting a record, so a row forged by a
// caller (or left by an older trustd) is ignored.
//
// The package is pure (no store, no service) so the offline client and
// policy can judge log entries they fetched by the same table.
package recordtype

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// ErrReserved means a record's predicate type is one a caller may not
// send on that path: one trustd writes itself, one it never logs, or an
// unknown type in trustd's namespace.
var ErrReserved = errors.New("reserved record type")

// Path is a way into the log.
type Path string

// Paths into the log.
const (
	// Submit: a caller's DSSE envelope of an in-toto statement, signed by
	// registered keys, through statement.Log.Submit (the Submit, Revoke and
	// PutAttestation RPCs and feedback imports), checked by the type's
	// validator. Stored with payload type PayloadTypeInToto.
	Submit Path = "submit"
	// Bundle: a caller's Sigstore bundle of an in-toto statement, through
	// attest (PutAttestation) and statement.Log.AppendBundle, verified
	// against the Sigstore trusted root. Stored with the bundle's media
	// type (BundlePayloadTypePrefix…).
	Bundle Path = "sigstore-bundle"
	// Owner: the type's owning service, which verifies the record in its
	// own format and assigns the type itself, through
	// statement.Log.AppendVerified or AppendVerifiedIn. Stored with the
	// Type's OwnerPayloadType.
	Owner Path = "owner"
)

// Payload types that identify a path.
const (
	// PayloadTypeInToto is what Submit stores (envelope.PayloadTypeInToto).
	PayloadTypeInToto = "application/vnd.in-toto+json"
	// BundlePayloadTypePrefix starts every Sigstore bundle media type,
	// what Bundle stores.
	BundlePayloadTypePrefix = "application/vnd.dev.sigstore.bundle"
)

// Namespace is trustd's own predicate type namespace. Every type in it is
// listed in Table or refused.
const Namespace = "https://trustd.dev/"

// Predicate types of records users sign and send (Submit, Bundle).
const (
	Vote            = "https://trustd.dev/feedback/vote/v1"
	Trust           = "https://trustd.dev/feedback/trust/v1"
	Response        = "https://trustd.dev/feedback/response/v1"
	IdentityBinding = "https://trustd.dev/identity/sigstore-binding/v1"
	PGPDelegation   = "https://trustd.dev/pgp/delegation/v1"
	PGPRotation     = "https://trustd.dev/pgp/rotation/v1"
	Revocation      = "https://trustd.dev/revocation/v1"
	TUFMetadata     = "https://trustd.dev/tuf/metadata/v1"
	TUFPending      = "https://trustd.dev/tuf/pending/v1"
	PGPManifest     = "https://trustd.dev/pgp/manifest/v1"
	PGPRevocation   = "https://trustd.dev/pgp/revocation/v1"
	// PGPTransition is a clearsigned OpenPGP key transition statement
	// imported as a rotation: a rotation fact like PGPRotation, in the
	// format people already publish.
	PGPTransition      = "https://trustd.dev/pgp/transition/v1"
	PGPCertUpdate      = "https://trustd.dev/pgp/certificate-update/v1"
	InTotoLayout       = "https://trustd.dev/in-toto/layout/v0.9"
	InTotoLink         = "https://trustd.dev/in-toto/link/v0.9"
	SigstoreMessageSig = "https://trustd.dev/sigstore/message-signature/v1"
	CosignSignature    = "https://trustd.dev/cosign/signature/v1"
	NotationSignature  = "https://trustd.dev/notation/signature/v1"
	RevocationList     = "https://trustd.dev/revocation-list/v1"
	TokenExtension     = "https://trustd.dev/token/v1"
	TokenVerifier      = "https://trustd.dev/trustd"
	FeedbackExport     = "https://trustd.dev/feedback/export/v1"
	Location           = "https://trustd.dev/location/v1"
)

// Payload types the owning services store.
const (
	TUFPayloadType           = "application/vnd.tuf+json"
	PGPManifestPayloadType   = "application/vnd.trustd.pgp-manifest+json"
	PGPRevocationPayloadType = "application/vnd.trustd.pgp-revocation+json"
	// PGPTransitionPayloadType is a clearsigned OpenPGP key transition
	// statement (signed by the old and the new key), as pgplog logs it.
	PGPTransitionPayloadType = "application/vnd.trustd.pgp-transition+json"
	PGPCertUpdatePayloadType = "application/vnd.trustd.pgp-certificate-update+json"
	LayoutPayloadType        = "application/vnd.in-toto.layout+json"
	LinkPayloadType          = "application/vnd.in-toto.link+json"
	// CosignPayloadType is a cosign key-based signature as attest stores
	// it (package cosign's Record: cosign's document verbatim and the
	// registered key that verified it).
	CosignPayloadType = "application/vnd.trustd.cosign-signature+json"
	// NotationPayloadTypePrefix starts the payload types of Notation
	// envelopes (…+cose, …+jws): the envelope is stored verbatim.
	NotationPayloadTypePrefix = "application/vnd.trustd.notation-signature"
)

// Signers is who may sign a record of a type: a short rule, enforced by
// the owner named in it.
type Signers string

// Signer rules.
const (
	SignedByAuthor        Signers = "its author: exactly one registered key (feedback validator)"
	SignedByPublisher     Signers = "a publisher of its subject: a signer of the TUF targets role or OpenPGP manifest that published it first, or a configured attestation signer (revocation.Service.IsPublisher)"
	SignedByBoundPair     Signers = "the bound registered key (DSSE) and the bound Sigstore identity (bundle); only the pair binds (identity)"
	SignedByDelegator     Signers = "the delegating OpenPGP certificate (pgplog validator)"
	SignedByBothKeys      Signers = "both the old and the new OpenPGP certificate (pgplog validator, or pgplog.ImportTransition for a clearsigned key transition statement)"
	SignedByRevoker       Signers = "a key with revocation authority over the target (revocation.Service.Authorize)"
	SignedByTUFRole       Signers = "the keys of the TUF role to its threshold, trustd's online keys for snapshot and timestamp (tuf)"
	SignedByTUFProposer   Signers = "key holders of the proposed TUF role, collecting signatures (tuf)"
	SignedByPGPPublisher  Signers = "a registered OpenPGP certificate in force, its signature verified (pgplog.PublishManifest)"
	SignedByRevokedPGPKey Signers = "the revoked OpenPGP certificate itself (pgplog.Revoke)"
	SignedByCertHolder    Signers = "the updated OpenPGP certificate's primary key over every packet it adds, a third-party certification by its registered issuer (pgplog.UpdateCertificate)"
	SignedByLayoutOwner   Signers = "the registered keys of the layout's owner (attest)"
	SignedByFunctionary   Signers = "a functionary key its layout names for the step (attest)"
	SignedBySigstore      Signers = "a Sigstore certificate verified against the trusted root (attest)"
	SignedByCosignKey     Signers = "the registered key the record names, verifying cosign's signature over the digest it records (attest); readers judge the signer"
	SignedByNotationTrust Signers = "an X.509 certificate chaining to the server's Notation trust store, a trusted identity of the trust policy covering the image (attest)"
	SignedByTrustd        Signers = "trustd's own key (token key, revocation-list key); never logged"
	SignedByNobody        Signers = "not a signed record: a file format of signed statements; never logged"
	SignedByClaimer       Signers = "its claimer: exactly one registered key; a publisher of the artifact makes the location authoritative, anyone else a mirror (location)"
	SignedByAnyone        Signers = "any registered key (DSSE) or Sigstore identity (bundle); readers judge the signer"
)

// Type is one row of the table.
type Type struct {
	// PredicateType is the in-toto predicate type (or, for records not in
	// the in-toto format, the type trustd assigns them in the log).
	PredicateType string
	// Paths are the ways a record of the type may enter the log; none
	// means trustd signs and serves it but never logs it.
	Paths []Path
	// OwnerPayloadType is the payload type the Owner path stores.
	OwnerPayloadType string
	// OwnerPayloadPrefix makes OwnerPayloadType a prefix (Sigstore bundle
	// media types carry a version).
	OwnerPayloadPrefix bool
	// Owner is the package that defines, validates or writes the type.
	Owner string
	// Signers is who may sign it.
	Signers Signers
}

// Table lists every predicate type trustd knows in its namespace. Types
// users sign and Submit need a validator (statement.CheckValidators);
// types only the Owner path appends are refused on Submit. Later types
// (locations, transition statements) are added here with their rule, or
// they are refused.
var Table = []Type{
	{PredicateType: Vote, Paths: []Path{Submit}, Owner: "feedback", Signers: SignedByAuthor},
	{PredicateType: Trust, Paths: []Path{Submit}, Owner: "feedback", Signers: SignedByAuthor},
	{PredicateType: Response, Paths: []Path{Submit}, Owner: "feedback", Signers: SignedByPublisher},
	{PredicateType: IdentityBinding, Paths: []Path{Submit, Bundle}, Owner: "identity", Signers: SignedByBoundPair},
	{PredicateType: PGPDelegation, Paths: []Path{Submit}, Owner: "pgplog", Signers: SignedByDelegator},
	{PredicateType: PGPRotation, Paths: []Path{Submit}, Owner: "pgplog", Signers: SignedByBothKeys},
	{PredicateType: Revocation, Paths: []Path{Submit}, Owner: "revocation", Signers: SignedByRevoker},
	{PredicateType: Location, Paths: []Path{Submit}, Owner: "location", Signers: SignedByClaimer},

	{PredicateType: TUFMetadata, Paths: []Path{Owner}, OwnerPayloadType: TUFPayloadType, Owner: "tufstore", Signers: SignedByTUFRole},
	{PredicateType: TUFPending, Paths: []Path{Owner}, OwnerPayloadType: TUFPayloadType, Owner: "tufstore", Signers: SignedByTUFProposer},
	{PredicateType: PGPManifest, Paths: []Path{Owner}, OwnerPayloadType: PGPManifestPayloadType, Owner: "pgplog", Signers: SignedByPGPPublisher},
	{PredicateType: PGPRevocation, Paths: []Path{Owner}, OwnerPayloadType: PGPRevocationPayloadType, Owner: "pgplog", Signers: SignedByRevokedPGPKey},
	{PredicateType: PGPTransition, Paths: []Path{Owner}, OwnerPayloadType: PGPTransitionPayloadType, Owner: "pgplog", Signers: SignedByBothKeys},
	{PredicateType: PGPCertUpdate, Paths: []Path{Owner}, OwnerPayloadType: PGPCertUpdatePayloadType, Owner: "pgplog", Signers: SignedByCertHolder},
	{PredicateType: InTotoLayout, Paths: []Path{Owner}, OwnerPayloadType: LayoutPayloadType, Owner: "attest", Signers: SignedByLayoutOwner},
	{PredicateType: InTotoLink, Paths: []Path{Owner}, OwnerPayloadType: LinkPayloadType, Owner: "attest", Signers: SignedByFunctionary},
	{PredicateType: SigstoreMessageSig, Paths: []Path{Owner}, OwnerPayloadType: BundlePayloadTypePrefix, OwnerPayloadPrefix: true, Owner: "attest", Signers: SignedBySigstore},
	{PredicateType: CosignSignature, Paths: []Path{Owner}, OwnerPayloadType: CosignPayloadType, Owner: "attest", Signers: SignedByCosignKey},
	{PredicateType: NotationSignature, Paths: []Path{Owner}, OwnerPayloadType: NotationPayloadTypePrefix, OwnerPayloadPrefix: true, Owner: "attest", Signers: SignedByNotationTrust},

	{PredicateType: RevocationList, Owner: "revocation", Signers: SignedByTrustd},
	{PredicateType: TokenExtension, Owner: "token", Signers: SignedByTrustd},
	{PredicateType: TokenVerifier, Owner: "token", Signers: SignedByTrustd},
	{PredicateType: FeedbackExport, Owner: "feedback", Signers: SignedByNobody},
}

// byType indexes Table.
var byType = func() map[string]*Type {
	m := make(map[string]*Type, len(Table))
	for i := range Table {
		t := &Table[i]
		if _, dup := m[t.PredicateType]; dup || !InNamespace(t.PredicateType) {
			panic("recordtype: bad table row " + t.PredicateType)
		}
		if slices.Contains(t.Paths, Owner) != (t.OwnerPayloadType != "") {
			panic("recordtype: owner payload type of " + t.PredicateType)
		}
		m[t.PredicateType] = t
	}
	return m
}()

// Lookup returns the table row of predicateType; ok is false for types
// outside the table (foreign types, and unknown types in the namespace).
func Lookup(predicateType string) (Type, bool) {
	t, ok := byType[predicateType]
	if !ok {
		return Type{}, false
	}
	return *t, true
}

// InNamespace reports whether predicateType is in trustd's namespace,
// however it is spelled: any scheme, any case, trustd.dev or a subdomain,
// with or without a trailing dot, so a look-alike cannot pass as foreign.
func InNamespace(predicateType string) bool {
	u, err := url.Parse(strings.TrimSpace(predicateType))
	if err != nil || u.Host == "" {
		return strings.HasPrefix(strings.ToLower(strings.TrimSpace(predicateType)), "trustd.dev/")
	}
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	return h == "trustd.dev" || strings.HasSuffix(h, ".trustd.dev")
}

// Foreign reports whether predicateType is outside trustd's namespace:
// an attestation type trustd stores for its callers (SLSA provenance, an
// SBOM, a VSA, or anything else), which Submit and Bundle accept.
func Foreign(predicateType string) bool { return !InNamespace(predicateType) }

// Has reports whether t may enter the log by path p.
func (t Type) Has(p Path) bool { return slices.Contains(t.Paths, p) }

// ownerPayload reports whether payloadType is what t's Owner path stores.
func (t Type) ownerPayload(payloadType string) bool {
	if !t.Has(Owner) {
		return false
	}
	if t.OwnerPayloadPrefix {
		return strings.HasPrefix(payloadType, t.OwnerPayloadType)
	}
	return payloadType == t.OwnerPayloadType
}

// CheckSubmit checks that a caller may send predicateType through path p
// (Submit or Bundle): a foreign type, or a table type with that path.
// Errors match ErrReserved and name the field and the reason.
func CheckSubmit(p Path, predicateType string) error {
	if Foreign(predicateType) {
		return nil
	}
	t, ok := byType[predicateType]
	switch {
	case !ok:
		return fmt.Errorf("predicateType: %w: %q is in trustd's namespace (%s) but is no type trustd knows", ErrReserved, predicateType, Namespace)
	case t.Has(p):
		return nil
	case t.Has(Owner):
		return fmt.Errorf("predicateType: %w: %s records are written by trustd's %s service only, never sent by a caller", ErrReserved, predicateType, t.Owner)
	case len(t.Paths) == 0:
		return fmt.Errorf("predicateType: %w: %s is signed and served by trustd (%s), never logged", ErrReserved, predicateType, t.Owner)
	}
	return fmt.Errorf("predicateType: %w: %s is not accepted as a %s; it travels by %s", ErrReserved, predicateType, p, joinPaths(t.Paths))
}

// CheckOwner checks that an owning service may append a record of
// predicateType with payloadType through the Owner path: a table type
// whose Owner path stores that payload type, or a foreign type in a format
// of its own (not an in-toto DSSE envelope, which only Submit takes, nor
// a Sigstore bundle, which only Bundle takes). Errors match ErrReserved.
func CheckOwner(payloadType, predicateType string) error {
	if Foreign(predicateType) {
		if payloadType == PayloadTypeInToto || strings.HasPrefix(payloadType, BundlePayloadTypePrefix) {
			return fmt.Errorf("payloadType: %w: %s records of callers enter through %s", ErrReserved, payloadType, pathOfPayload(payloadType))
		}
		return nil
	}
	t, ok := byType[predicateType]
	switch {
	case !ok:
		return fmt.Errorf("predicateType: %w: %q is in trustd's namespace (%s) but is no type trustd knows", ErrReserved, predicateType, Namespace)
	case t.ownerPayload(payloadType):
		return nil
	case t.Has(Owner):
		return fmt.Errorf("payloadType: %w: %s records are stored by %s as %s, not %q", ErrReserved, predicateType, t.Owner, t.OwnerPayloadType, payloadType)
	}
	return fmt.Errorf("predicateType: %w: %s is not written by an owning service; it travels by %s", ErrReserved, predicateType, joinPaths(t.Paths))
}

func pathOfPayload(payloadType string) Path {
	if payloadType == PayloadTypeInToto {
		return Submit
	}
	return Bundle
}

func joinPaths(ps []Path) string {
	if len(ps) == 0 {
		return "no path (never logged)"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, " or ")
}

// Origin tells which path appended a logged record with these types, by
// the table: ok is false when no path the table gives the type stores
// that payload type, which only a forged row (or one an older trustd let
// in) can be. Every path stores a payload type of its own (Submit in-toto
// JSON, Bundle a Sigstore media type, each owner its format), so the
// payload type is the path's mark.
func Origin(payloadType, predicateType string) (Path, bool) {
	var p Path
	switch {
	case payloadType == PayloadTypeInToto:
		p = Submit
	case strings.HasPrefix(payloadType, BundlePayloadTypePrefix):
		p = Bundle
	}
	if Foreign(predicateType) {
		if p == "" {
			return Owner, true
		}
		return p, true
	}
	t, ok := byType[predicateType]
	if !ok {
		return "", false
	}
	if t.ownerPayload(payloadType) {
		return Owner, true
	}
	if p != "" && t.Has(p) {
		return p, true
	}
	return "", false
}

// Genuine reports whether a logged record with these types came by a path
// the table allows for its type (see Origin).
func Genuine(payloadType, predicateType string) bool {
	_, ok := Origin(payloadType, predicateType)
	return ok
}

// WrittenByOwner reports whether a logged record of a table type was
// appended by the type's owning service (TUF metadata by tufstore, an
// OpenPGP manifest by pgplog, …), the only way such a record is evidence.
func WrittenByOwner(payloadType, predicateType string) bool {
	t, ok := byType[predicateType]
	return ok && t.ownerPayload(payloadType)
}

// Publication reports whether a logged record publishes the digests it
// lists: TUF metadata tufstore published or an OpenPGP manifest pgplog
// published, each appended by its own path. Only such a record can be a
// publisher's (by the first-publication rule), so the store keeps the
// alias claims of publications apart from everyone's (see
// store.ClaimQuery).
func Publication(payloadType, predicateType string) bool {
	return (predicateType == TUFMetadata || predicateType == PGPManifest) && WrittenByOwner(payloadType, predicateType)
}

// Attestation reports whether a logged record is an attestation its
// signer made about the artifacts it names: a foreign type (SLSA
// provenance, an SBOM, a VSA, …) that came by a path the table allows, or
// one of attest's records about artifacts (a Sigstore message signature,
// a cosign key-based signature, a Notation signature, an in-toto link).
// Feedback, revocations, identity bindings and trustd's own records are
// not.
func Attestation(payloadType, predicateType string) bool {
	if Foreign(predicateType) {
		return Genuine(payloadType, predicateType)
	}
	return (predicateType == SigstoreMessageSig || predicateType == CosignSignature || predicateType == NotationSignature || predicateType == InTotoLink) && WrittenByOwner(payloadType, predicateType)
}
