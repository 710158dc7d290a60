package pgplog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

// The log types of a published manifest.
const (
	ManifestPayloadType   = recordtype.PGPManifestPayloadType
	ManifestPredicateType = recordtype.PGPManifest
)

// MaxManifestNameBytes bounds a manifest's file name.
const MaxManifestNameBytes = 255

// ErrInvalidManifest reports a publish request that is malformed: a
// missing or bad name, or neither (or both) of a detached and a
// clearsigned signature.
var ErrInvalidManifest = errors.New("invalid manifest request")

// ManifestRecord is what the log stores for a published manifest (see
// pgp.ManifestRecord, where the format lives so that verifiers of fetched
// log entries need not import this service package).
type ManifestRecord = pgp.ManifestRecord

// Manifest is a publish request.
type Manifest struct {
	Name        string // the manifest's file name; selects untagged algorithms (pgp.ManifestOptionsFor)
	Data        []byte // the manifest, with Signature
	Signature   []byte // detached signature over Data, armored or binary
	Clearsigned []byte // a clearsigned manifest, instead of Data and Signature
}

// Published is the outcome of PublishManifest.
type Published struct {
	Entry     store.Statement
	Created   bool
	Entries   []pgp.ManifestEntry
	Problems  []pgp.ManifestProblem
	Signature pgp.SignatureInfo
	// Transition is set when the clearsigned document was a key
	// transition statement, imported as a rotation (ImportTransition);
	// Signature is then the old key's.
	Transition *pgp.Transition
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("pgplog: %s: %w: %s", field, ErrInvalidManifest, fmt.Sprintf(format, args...))
}

func (m Manifest) check() error {
	switch {
	case m.Name == "":
		return invalid("name", "required (the manifest's file name, e.g. SHA256SUMS)")
	case len(m.Name) > MaxManifestNameBytes:
		return invalid("name", "%d bytes, the limit is %d", len(m.Name), MaxManifestNameBytes)
	case !utf8.ValidString(m.Name):
		return invalid("name", "not UTF-8")
	}
	for _, r := range m.Name {
		if unicode.IsControl(r) {
			return invalid("name", "control character %U", r)
		}
	}
	detached := len(m.Data) > 0 || len(m.Signature) > 0
	switch {
	case detached && len(m.Clearsigned) > 0:
		return invalid("clearsigned", "give either manifest and signature or clearsigned, not both")
	case !detached && len(m.Clearsigned) == 0:
		return invalid("manifest", "required (or clearsigned)")
	case detached && len(m.Data) == 0:
		return invalid("manifest", "required with a detached signature")
	case detached && len(m.Signature) == 0:
		return invalid("signature", "required with manifest (or give clearsigned instead)")
	case len(m.Data) > pgp.MaxManifestBytes:
		return fmt.Errorf("pgplog: manifest: %w: %d bytes, the limit is %d", pgp.ErrTooLarge, len(m.Data), pgp.MaxManifestBytes)
	case len(m.Signature) > pgp.MaxSignatureBytes:
		return fmt.Errorf("pgplog: signature: %w: %d bytes, the limit is %d", pgp.ErrTooLarge, len(m.Signature), pgp.MaxSignatureBytes)
	case len(m.Clearsigned) > pgp.MaxClearsignedBytes:
		return fmt.Errorf("pgplog: clearsigned: %w: %d bytes, the limit is %d", pgp.ErrTooLarge, len(m.Clearsigned), pgp.MaxClearsignedBytes)
	}
	return nil
}

// PublishManifest verifies m's signature against the registered
// certificate of its signer (found by full fingerprint, primary or subkey;
// a signature naming only a key id tries every certificate with that key id
// on its own), refuses a signature by a key the log shows revoked or
// superseded, parses the manifest, and appends it to the log: one
// statement subject per indexed line (the file name and its digest), signed
// by the certificate's primary fingerprint. Lines that cannot be indexed
// come back as problems. Nothing is stored on error.
// Errors: ErrInvalidManifest, ErrUnknownSigner, the pgp sentinels.
func (s *Service) PublishManifest(ctx context.Context, m Manifest) (Published, error) {
	if err := m.check(); err != nil {
		return Published{}, err
	}
	signed, field := m.Signature, "signature"
	if len(m.Clearsigned) > 0 {
		signed, field = m.Clearsigned, "clearsigned"
		// A clearsigned key transition statement is no manifest: it is
		// imported as the rotation it states.
		if plain, err := pgp.ClearsignedText(m.Clearsigned); err == nil && isTransition(m.Name, plain) {
			imp, err := s.ImportTransition(ctx, m.Clearsigned)
			if err != nil {
				return Published{}, err
			}
			return Published{Entry: imp.Entry, Created: imp.Created, Signature: imp.Transition.Signatures[0], Transition: &imp.Transition}, nil
		}
	}
	issuers, err := pgp.SignatureIssuers(signed)
	if err != nil {
		return Published{}, fmt.Errorf("pgplog: %s: %w", field, err)
	}
	cands, err := s.candidates(ctx, issuers)
	if err != nil {
		return Published{}, err
	}
	if len(cands) == 0 {
		return Published{}, fmt.Errorf("pgplog: %s: %w: signed by %s; register the certificate first (trustctl key add)", field, ErrUnknownSigner, describeIssuers(issuers))
	}
	var (
		data     = m.Data
		info     pgp.SignatureInfo
		firstErr error
		verified bool
	)
	for _, fpr := range cands {
		cert, err := s.certificate(ctx, fpr)
		if err != nil {
			return Published{}, err
		}
		if len(m.Clearsigned) > 0 {
			data, info, err = pgp.VerifyCleartext(cert, m.Clearsigned)
		} else {
			info, err = pgp.VerifyDetached(cert, m.Data, m.Signature)
		}
		if err == nil {
			verified = true
			break
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if !verified {
		return Published{}, fmt.Errorf("pgplog: %s: %w", field, firstErr)
	}
	if err := s.checkInForce(ctx, info); err != nil {
		return Published{}, err
	}
	entries, problems, err := pgp.ParseManifestFile(m.Name, data)
	if err != nil {
		return Published{}, fmt.Errorf("pgplog: manifest: %w", err)
	}
	if len(entries) == 0 {
		return Published{}, emptyManifest(m.Name, data, problems)
	}
	rec, err := json.Marshal(ManifestRecord{Name: m.Name, Manifest: m.Data, Signature: m.Signature, Clearsigned: m.Clearsigned})
	if err != nil {
		return Published{}, fmt.Errorf("pgplog: encode manifest record: %w", err)
	}
	st := store.Statement{
		PayloadType:   ManifestPayloadType,
		PredicateType: ManifestPredicateType,
		Envelope:      rec,
		Payload:       data,
		SignerKeyIDs:  []string{info.Primary},
		// A key publishes a manifest once: the same text signed again,
		// its signature re-armored or its unhashed subpackets changed, or
		// under a name that reads it alike, is the first entry.
		SignedDigest: manifestDigest(m.Name, data),
	}
	st.Subjects = manifestSubjects(entries)
	entry, created, err := s.log.AppendVerified(ctx, st)
	if err != nil {
		return Published{}, fmt.Errorf("pgplog: publish manifest %s: %w", m.Name, err)
	}
	return Published{Entry: entry, Created: created, Entries: entries, Problems: problems, Signature: info}, nil
}

// checkInForce refuses a signature that pgp's chain verifier would refuse
// on its own: a hard revocation of the primary or the signing subkey ever,
// a soft revocation or rotation in effect when signed or when trustd
// observes it (now), an expired or unbound signing key, or a weak hash.
func (s *Service) checkInForce(ctx context.Context, info pgp.SignatureInfo) error {
	g, err := s.Graph(ctx)
	if err != nil {
		return err
	}
	if err := g.CheckSignature(info, time.Now()); err != nil {
		return fmt.Errorf("pgplog: signature: %w", err)
	}
	return nil
}

// isTransition tells a clearsigned key transition statement from a
// manifest: a document not named as a Debian Release file, in which no
// line is a checksum line, that names an old or new key and holds a full
// fingerprint (pgp.LooksLikeTransition).
func isTransition(name string, text []byte) bool {
	if pgp.IsReleaseName(name) || !pgp.LooksLikeTransition(text) {
		return false
	}
	entries, _, err := pgp.ParseManifestFile(name, text)
	return err == nil && len(entries) == 0
}

// emptyManifest is the error for a manifest of which no line can be
// indexed: it would grant nothing, so it is not logged.
func emptyManifest(name string, data []byte, problems []pgp.ManifestProblem) error {
	why := "it has no checksum lines"
	if len(problems) > 0 {
		why = fmt.Sprintf("none of its %d checksum lines can be indexed; the first: %s", len(problems), problems[0])
	}
	hint := ""
	if !pgp.IsReleaseName(name) && pgp.LooksLikeRelease(data) {
		hint = "; it looks like a Debian Release file: publish it under its name (--name Release or --name InRelease)"
	}
	return fmt.Errorf("pgplog: manifest: %w: %s lists no digest, %s%s", ErrInvalidManifest, name, why, hint)
}

// manifestSubjects makes one statement subject per file name, holding
// every digest the manifest lists for it (a Debian Release file lists a
// path under SHA256 and SHA512), so the digests of one file are aliases
// of one subject, claimed by the manifest's signer.
func manifestSubjects(entries []pgp.ManifestEntry) []store.StatementSubject {
	var out []store.StatementSubject
	at := map[string]int{}
	for _, e := range entries {
		if i, ok := at[e.Name]; ok {
			out[i].Digests = append(out[i].Digests, e.Digest)
			continue
		}
		at[e.Name] = len(out)
		out = append(out, store.StatementSubject{Name: e.Name, Digests: []digest.Digest{e.Digest}})
	}
	return out
}

// manifestDigest identifies a manifest as its signer signed it and trustd
// reads it: the signed text, and how its name says to parse it (the name
// is not signed: names that parse the text alike are one manifest, names
// that parse it otherwise say something else of it).
func manifestDigest(name string, data []byte) digest.Digest {
	format := "release"
	if !pgp.IsReleaseName(name) {
		format = fmt.Sprint(pgp.ManifestOptionsFor(name).Untagged)
	}
	return envelope.PAEDigest(ManifestPayloadType+"; format="+format, data)
}

// transitionDigest identifies a key transition statement by its signed
// text.
func transitionDigest(plain []byte) digest.Digest {
	return envelope.PAEDigest(TransitionPayloadType, plain)
}

// SignedDigest is the store.Statement.SignedDigest PublishManifest and
// ImportTransition give an entry, computed from the entry as logged; ok is
// false for other entries and for one it cannot read.
// statement.IndexLoggedSignatures uses it for the entries logged before
// signed digests were recorded.
func SignedDigest(e store.Statement) (digest.Digest, bool) {
	switch e.PayloadType {
	case ManifestPayloadType:
		var rec ManifestRecord
		if err := json.Unmarshal(e.Envelope, &rec); err != nil {
			return digest.Digest{}, false
		}
		return manifestDigest(rec.Name, e.Payload), true
	case TransitionPayloadType:
		return transitionDigest(e.Payload), true
	}
	return digest.Digest{}, false
}
