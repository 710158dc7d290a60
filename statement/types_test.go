package statement_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// signType signs an in-toto statement of predicateType about app.
func signType(t testing.TB, predicateType string, k signer) []byte {
	t.Helper()
	payload, err := envelope.NewStatement(predicateType, json.RawMessage(`{}`), artifact("app.tar"))
	if err != nil {
		t.Fatal(err)
	}
	return signPayload(t, envelope.PayloadTypeInToto, payload, k)
}

// TestSubmitRefusesReservedTypes: a stranger with a self-registered key
// cannot make trustd log a record of a type trustd writes itself, of one it
// never logs, or of an unknown type of its namespace however it is spelled;
// nor one of a type callers send when the server has no validator for it.
// Nothing is stored.
func TestSubmitRefusesReservedTypes(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			f := newFixture(t, s, nil)
			ctx := context.Background()
			stranger := newSigner(t, s, envelope.KeyTypeED25519, true)
			var reserved []string
			for _, typ := range recordtype.Table {
				if !typ.Has(recordtype.Submit) {
					reserved = append(reserved, typ.PredicateType)
				}
			}
			reserved = append(reserved,
				"https://trustd.dev/not-a-type/v1", // a later issue's type, not in the table yet
				"HTTPS://TRUSTD.DEV/tuf/metadata/v1",
				"https://trustd.dev./tuf/metadata/v1",
				"http://trustd.dev/tuf/metadata/v1",
				"https://evil.trustd.dev/tuf/metadata/v1",
				recordtype.Vote, // a Submit type, but this log has no validator for it
			)
			for _, pt := range reserved {
				_, _, err := f.log.Submit(ctx, signType(t, pt, stranger))
				if !errors.Is(err, recordtype.ErrReserved) || !strings.Contains(err.Error(), "predicateType") {
					t.Errorf("Submit of %s = %v, want ErrReserved naming predicateType", pt, err)
				}
				if n, _ := s.LogSize(ctx); n != 0 {
					t.Fatalf("log size %d after refusing %s", n, pt)
				}
			}
			if _, _, err := f.log.Submit(ctx, signType(t, "https://slsa.dev/provenance/v1", stranger)); err != nil {
				t.Errorf("a foreign attestation type: %v", err)
			}
		})
	}
}

// TestAppendPaths: each append path takes only what the table gives it.
// An owner's own format is the only way to log its types, a Sigstore
// bundle carries only types callers may send in one, and an in-toto DSSE
// envelope enters through Submit alone.
func TestAppendPaths(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := b.Open(t)
			f := newFixture(t, s, nil)
			ctx := context.Background()
			app := artifact("app.tar")
			n := 0
			rec := func(payloadType, predicateType string) store.Statement {
				n++
				return store.Statement{PayloadType: payloadType, PredicateType: predicateType,
					Envelope: []byte(strings.Repeat("x", n)), SignerKeyIDs: []string{"k"},
					Subjects: []store.StatementSubject{{Name: app.Name, Digests: app.Digests}}}
			}
			const bundle = recordtype.BundlePayloadTypePrefix + ".v0.3+json"
			for _, tc := range []struct {
				name string
				via  func(context.Context, store.Statement) (store.Statement, bool, error)
				rec  store.Statement
				ok   bool
			}{
				{"owner: TUF metadata as tufstore stores it", f.log.AppendVerified, rec(recordtype.TUFPayloadType, recordtype.TUFMetadata), true},
				{"owner: TUF metadata as an in-toto envelope", f.log.AppendVerified, rec(envelope.PayloadTypeInToto, recordtype.TUFMetadata), false},
				{"owner: TUF metadata as a manifest", f.log.AppendVerified, rec(recordtype.PGPManifestPayloadType, recordtype.TUFMetadata), false},
				{"owner: a manifest as pgplog stores it", f.log.AppendVerified, rec(recordtype.PGPManifestPayloadType, recordtype.PGPManifest), true},
				{"owner: a message signature bundle", f.log.AppendVerified, rec(bundle, recordtype.SigstoreMessageSig), true},
				{"owner: a vote", f.log.AppendVerified, rec(recordtype.TUFPayloadType, recordtype.Vote), false},
				{"owner: a revocation list", f.log.AppendVerified, rec("application/octet-stream", recordtype.RevocationList), false},
				{"owner: an unknown type of the namespace", f.log.AppendVerified, rec("application/x-new", "https://trustd.dev/new/v1"), false},
				{"owner: a foreign type in its own format", f.log.AppendVerified, rec("application/vnd.example+json", "https://example.com/x/v1"), true},
				{"owner: a foreign in-toto envelope", f.log.AppendVerified, rec(envelope.PayloadTypeInToto, "https://example.com/x/v1"), false},
				{"owner: a foreign bundle", f.log.AppendVerified, rec(bundle, "https://example.com/x/v1"), false},
				{"bundle: a foreign attestation", f.log.AppendBundle, rec(bundle, "https://slsa.dev/provenance/v1"), true},
				{"bundle: an identity binding", f.log.AppendBundle, rec(bundle, recordtype.IdentityBinding), true},
				{"bundle: TUF metadata", f.log.AppendBundle, rec(bundle, recordtype.TUFMetadata), false},
				{"bundle: a message signature named by the caller", f.log.AppendBundle, rec(bundle, recordtype.SigstoreMessageSig), false},
				{"bundle: a vote", f.log.AppendBundle, rec(bundle, recordtype.Vote), false},
				{"bundle: not a bundle", f.log.AppendBundle, rec("application/vnd.example+json", "https://slsa.dev/provenance/v1"), false},
			} {
				before, _ := s.LogSize(ctx)
				_, _, err := tc.via(ctx, tc.rec)
				after, _ := s.LogSize(ctx)
				switch {
				case tc.ok && err != nil:
					t.Errorf("%s: %v", tc.name, err)
				case !tc.ok && !errors.Is(err, recordtype.ErrReserved):
					t.Errorf("%s = %v, want ErrReserved", tc.name, err)
				case !tc.ok && after != before:
					t.Errorf("%s: log grew from %d to %d", tc.name, before, after)
				}
			}
			// Inside a caller's transaction, one bad record refuses them all.
			err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
				_, _, err := f.log.AppendVerifiedIn(ctx, w, []store.Statement{
					rec(recordtype.TUFPayloadType, recordtype.TUFMetadata), rec(envelope.PayloadTypeInToto, recordtype.TUFPending)})
				return err
			})
			if !errors.Is(err, recordtype.ErrReserved) || !strings.Contains(err.Error(), "record 1") {
				t.Errorf("AppendVerifiedIn with a forged record = %v, want ErrReserved naming record 1", err)
			}
		})
	}
}

// TestValidatorsMatchTable: a predicate type of trustd's namespace cannot
// be given a validator or an indexer without its row in recordtype.Table,
// a type trustd writes itself cannot be given a validator, and
// CheckValidators (run by trustd at startup) finds every type callers
// Submit that has no validator.
func TestValidatorsMatchTable(t *testing.T) {
	s := teststore.Backends()[0].Open(t)
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	ok := func(context.Context, envelope.Statement, []string) error { return nil }
	for _, pt := range []string{"https://trustd.dev/not-a-type/v1", recordtype.TUFMetadata, recordtype.RevocationList} {
		_, err := statement.New(s, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: map[string]statement.Validator{pt: ok}})
		if !errors.Is(err, recordtype.ErrReserved) {
			t.Errorf("New with a validator of %s = %v, want ErrReserved", pt, err)
		}
		if err := statement.CheckValidators(map[string]statement.Validator{pt: ok}); !errors.Is(err, recordtype.ErrReserved) {
			t.Errorf("CheckValidators with a validator of %s = %v, want ErrReserved", pt, err)
		}
	}
	_, err = statement.New(s, statement.Options{LogKey: skey, LogVerifierKey: vkey, Indexers: map[string]statement.Indexer{
		"https://trustd.dev/not-a-type/v1": func(context.Context, store.Writer, store.Statement) error { return nil }}})
	if !errors.Is(err, recordtype.ErrReserved) {
		t.Errorf("New with an indexer of a type not in the table = %v, want ErrReserved", err)
	}

	all := map[string]statement.Validator{"https://slsa.dev/provenance/v1": ok}
	var submitted int
	for _, typ := range recordtype.Table {
		if typ.Has(recordtype.Submit) {
			all[typ.PredicateType] = ok
			submitted++
		}
	}
	if submitted < 7 {
		t.Fatalf("the table lists %d types callers submit, want at least votes, trust, responses, bindings, delegations, rotations and revocations", submitted)
	}
	if err := statement.CheckValidators(all); err != nil {
		t.Errorf("CheckValidators with every Submit type: %v", err)
	}
	delete(all, recordtype.Revocation)
	if err := statement.CheckValidators(all); err == nil || !strings.Contains(err.Error(), recordtype.Revocation) {
		t.Errorf("CheckValidators without the revocation validator = %v, want it named", err)
	}
}
