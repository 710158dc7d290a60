package recordtype_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/identity"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/token"
	"github.com/trustd-dev/trustd/tufstore"
)

// TestOwnersUseTheTable: every predicate and payload type an owning
// package names is the table's, with the path the package uses.
func TestOwnersUseTheTable(t *testing.T) {
	for _, tc := range []struct {
		predicateType string
		path          recordtype.Path
		payloadType   string // the Owner path's
	}{
		{feedback.VotePredicateType, recordtype.Submit, ""},
		{feedback.TrustPredicateType, recordtype.Submit, ""},
		{feedback.ResponsePredicateType, recordtype.Submit, ""},
		{identity.BindingPredicateType, recordtype.Submit, ""},
		{identity.BindingPredicateType, recordtype.Bundle, ""},
		{pgp.DelegationPredicateType, recordtype.Submit, ""},
		{pgp.RotationPredicateType, recordtype.Submit, ""},
		{revocation.PredicateType, recordtype.Submit, ""},
		{tufstore.PredicateType, recordtype.Owner, tufstore.PayloadType},
		{tufstore.PendingPredicateType, recordtype.Owner, tufstore.PayloadType},
		{pgplog.ManifestPredicateType, recordtype.Owner, pgplog.ManifestPayloadType},
		{pgplog.RevocationPredicateType, recordtype.Owner, pgplog.RevocationPayloadType},
		{pgplog.TransitionPredicateType, recordtype.Owner, pgplog.TransitionPayloadType},
		{attest.LayoutPredicateType, recordtype.Owner, attest.LayoutPayloadType},
		{attest.LinkPredicateType, recordtype.Owner, attest.LinkPayloadType},
		{attest.MessageSignaturePredicateType, recordtype.Owner, recordtype.BundlePayloadTypePrefix},
		{attest.NotationPredicateType, recordtype.Owner, recordtype.NotationPayloadTypePrefix},
		{revocation.ListPredicateType, "", ""},
		{feedback.ExportFormat, "", ""},
		{token.ExtensionKey, "", ""},
		{token.VerifierID, "", ""},
	} {
		typ, ok := recordtype.Lookup(tc.predicateType)
		switch {
		case !ok:
			t.Errorf("%s is not in the table", tc.predicateType)
		case tc.path == "" && len(typ.Paths) != 0:
			t.Errorf("%s: paths %v, want none (never logged)", tc.predicateType, typ.Paths)
		case tc.path != "" && !typ.Has(tc.path):
			t.Errorf("%s: paths %v, want %s", tc.predicateType, typ.Paths, tc.path)
		case tc.payloadType != typ.OwnerPayloadType:
			t.Errorf("%s: owner payload type %q, want %q", tc.predicateType, typ.OwnerPayloadType, tc.payloadType)
		}
	}
	if recordtype.PayloadTypeInToto != envelope.PayloadTypeInToto {
		t.Errorf("in-toto payload type %q, envelope says %q", recordtype.PayloadTypeInToto, envelope.PayloadTypeInToto)
	}
}

// TestTableRows: every row is in the namespace, has an owner and a signer
// rule, and a type callers send is never also written by an owner (its
// records could not be told apart by path).
func TestTableRows(t *testing.T) {
	for _, typ := range recordtype.Table {
		if !recordtype.InNamespace(typ.PredicateType) || typ.Owner == "" || typ.Signers == "" {
			t.Errorf("row %+v: want a namespace type with an owner and a signer rule", typ)
		}
		if typ.Has(recordtype.Owner) && (typ.Has(recordtype.Submit) || typ.Has(recordtype.Bundle)) {
			t.Errorf("%s is both written by its owner and sent by callers", typ.PredicateType)
		}
	}
}

func TestInNamespace(t *testing.T) {
	for pt, want := range map[string]bool{
		"https://trustd.dev/tuf/metadata/v1":     true,
		"https://TrustD.dev/tuf/metadata/v1":     true,
		"HTTPS://TRUSTD.DEV/x":                   true,
		"http://trustd.dev/x":                    true,
		"https://trustd.dev./x":                  true,
		"https://trustd.dev:443/x":               true,
		"https://sub.trustd.dev/x":               true,
		" https://trustd.dev/x":                  true,
		"trustd.dev/x":                           true,
		"https://slsa.dev/provenance/v1":         false,
		"https://nottrustd.dev/x":                false,
		"https://trustd.dev.example.com/x":       false,
		"https://example.com/https://trustd.dev": false,
		"":                                       false,
	} {
		if got := recordtype.InNamespace(pt); got != want {
			t.Errorf("InNamespace(%q) = %v, want %v", pt, got, want)
		}
	}
}

// TestOrigin: the payload type tells the path; a record of a table type
// stored with a payload type none of its paths stores is forged.
func TestOrigin(t *testing.T) {
	const bundle = recordtype.BundlePayloadTypePrefix + "+json;version=0.2"
	for _, tc := range []struct {
		payloadType, predicateType string
		path                       recordtype.Path
		ok, owner, attestation     bool
	}{
		{recordtype.TUFPayloadType, recordtype.TUFMetadata, recordtype.Owner, true, true, false},
		{recordtype.PayloadTypeInToto, recordtype.TUFMetadata, "", false, false, false},
		{bundle, recordtype.TUFMetadata, "", false, false, false},
		{recordtype.PGPManifestPayloadType, recordtype.PGPManifest, recordtype.Owner, true, true, false},
		{recordtype.PayloadTypeInToto, recordtype.PGPManifest, "", false, false, false},
		{recordtype.PayloadTypeInToto, recordtype.Vote, recordtype.Submit, true, false, false},
		{bundle, recordtype.Vote, "", false, false, false},
		{bundle, recordtype.IdentityBinding, recordtype.Bundle, true, false, false},
		{recordtype.PayloadTypeInToto, recordtype.RevocationList, "", false, false, false},
		{recordtype.PayloadTypeInToto, "https://trustd.dev/unknown/v1", "", false, false, false},
		{bundle, recordtype.SigstoreMessageSig, recordtype.Owner, true, true, true},
		{recordtype.LinkPayloadType, recordtype.InTotoLink, recordtype.Owner, true, true, true},
		{recordtype.CosignPayloadType, recordtype.CosignSignature, recordtype.Owner, true, true, true},
		{recordtype.PayloadTypeInToto, recordtype.CosignSignature, "", false, false, false},
		{bundle, recordtype.CosignSignature, "", false, false, false},
		{attest.NotationPayloadTypeCOSE, recordtype.NotationSignature, recordtype.Owner, true, true, true},
		{attest.NotationPayloadTypeJWS, recordtype.NotationSignature, recordtype.Owner, true, true, true},
		{recordtype.PayloadTypeInToto, recordtype.NotationSignature, "", false, false, false},
		{bundle, recordtype.NotationSignature, "", false, false, false},
		{recordtype.LayoutPayloadType, recordtype.InTotoLayout, recordtype.Owner, true, true, false},
		{recordtype.PayloadTypeInToto, "https://slsa.dev/provenance/v1", recordtype.Submit, true, false, true},
		{bundle, "https://slsa.dev/provenance/v1", recordtype.Bundle, true, false, true},
		{"application/vnd.example", "https://example.com/x", recordtype.Owner, true, false, true},
	} {
		path, ok := recordtype.Origin(tc.payloadType, tc.predicateType)
		if path != tc.path || ok != tc.ok || recordtype.Genuine(tc.payloadType, tc.predicateType) != tc.ok {
			t.Errorf("Origin(%s, %s) = %q, %v; want %q, %v", tc.payloadType, tc.predicateType, path, ok, tc.path, tc.ok)
		}
		if got := recordtype.WrittenByOwner(tc.payloadType, tc.predicateType); got != tc.owner {
			t.Errorf("WrittenByOwner(%s, %s) = %v, want %v", tc.payloadType, tc.predicateType, got, tc.owner)
		}
		if got := recordtype.Attestation(tc.payloadType, tc.predicateType); got != tc.attestation {
			t.Errorf("Attestation(%s, %s) = %v, want %v", tc.payloadType, tc.predicateType, got, tc.attestation)
		}
	}
}

func TestCheckSubmit(t *testing.T) {
	for _, tc := range []struct {
		path          recordtype.Path
		predicateType string
		reason        string // "" = allowed
	}{
		{recordtype.Submit, recordtype.Vote, ""},
		{recordtype.Submit, "https://slsa.dev/provenance/v1", ""},
		{recordtype.Submit, recordtype.TUFMetadata, "written by trustd's tufstore service only"},
		{recordtype.Submit, recordtype.PGPManifest, "written by trustd's pgplog service only"},
		{recordtype.Submit, recordtype.RevocationList, "never logged"},
		{recordtype.Submit, "https://trustd.dev/x/v1", "no type trustd knows"},
		{recordtype.Bundle, recordtype.IdentityBinding, ""},
		{recordtype.Bundle, recordtype.Vote, "it travels by submit"},
	} {
		err := recordtype.CheckSubmit(tc.path, tc.predicateType)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("CheckSubmit(%s, %s): %v", tc.path, tc.predicateType, err)
			}
			continue
		}
		if !errors.Is(err, recordtype.ErrReserved) || !strings.Contains(err.Error(), tc.reason) || !strings.HasPrefix(err.Error(), "predicateType: ") {
			t.Errorf("CheckSubmit(%s, %s) = %v, want ErrReserved on predicateType saying %q", tc.path, tc.predicateType, err, tc.reason)
		}
	}
}

// FuzzOrigin: the table's judgement of any pair of type strings holds
// together: a genuine record of the namespace is a table type, a record
// written by its owner is genuine, and a caller path never accepts a type
// an owner writes.
func FuzzOrigin(f *testing.F) {
	for _, typ := range recordtype.Table {
		f.Add(typ.OwnerPayloadType, typ.PredicateType)
		f.Add(recordtype.PayloadTypeInToto, typ.PredicateType)
	}
	f.Add(recordtype.BundlePayloadTypePrefix+"+json", "HTTPS://TRUSTD.DEV./x")
	f.Fuzz(func(t *testing.T, payloadType, predicateType string) {
		path, ok := recordtype.Origin(payloadType, predicateType)
		typ, inTable := recordtype.Lookup(predicateType)
		if ok && recordtype.InNamespace(predicateType) && (!inTable || !typ.Has(path)) {
			t.Fatalf("Origin(%q, %q) = %s, but the table does not give the type that path", payloadType, predicateType, path)
		}
		if recordtype.WrittenByOwner(payloadType, predicateType) && path != recordtype.Owner {
			t.Fatalf("written by its owner but Origin = %q, %v", path, ok)
		}
		for _, p := range []recordtype.Path{recordtype.Submit, recordtype.Bundle} {
			if recordtype.CheckSubmit(p, predicateType) == nil && inTable && typ.Has(recordtype.Owner) {
				t.Fatalf("callers may send %q by %s, which its owner writes", predicateType, p)
			}
		}
	})
}
