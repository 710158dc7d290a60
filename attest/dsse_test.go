package attest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	intoto "github.com/in-toto/in-toto-golang/in_toto"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/store"
)

// signerFunc signs an in-toto statement into a DSSE envelope (JSON) with a
// key that e's registry knows, returning the envelope and the key id.
type signerFunc func(t *testing.T, e *env, statement []byte) ([]byte, string)

// opensslSigner makes a key with `openssl genpkey` and signs with it.
func opensslSigner(genpkeyArgs ...string) signerFunc {
	return func(t *testing.T, e *env, statement []byte) ([]byte, string) {
		t.Helper()
		if _, err := exec.LookPath("openssl"); err != nil {
			t.Fatal("openssl is not installed; scripts/test-deps.sh installs it")
		}
		dir := t.TempDir()
		key := filepath.Join(dir, "key.pem")
		if out, err := exec.Command("openssl", append([]string{"genpkey"}, append(genpkeyArgs, "-out", key)...)...).CombinedOutput(); err != nil {
			t.Fatalf("openssl genpkey: %v %s", err, out)
		}
		pub, err := exec.Command("openssl", "pkey", "-in", key, "-pubout").Output()
		if err != nil {
			t.Fatalf("openssl pkey -pubout: %v", err)
		}
		return signWith(t, e, readFile(t, key), pub, statement)
	}
}

// goSigner makes a key with Go's crypto (envelope.GenerateKey).
func goSigner(keyType string) signerFunc {
	return func(t *testing.T, e *env, statement []byte) ([]byte, string) {
		t.Helper()
		priv, pub, err := envelope.GenerateKey(keyType)
		if err != nil {
			t.Fatal(err)
		}
		return signWith(t, e, priv, pub.Encode(), statement)
	}
}

func signWith(t *testing.T, e *env, privPEM, pubPEM, statement []byte) ([]byte, string) {
	t.Helper()
	k, _, err := e.keys.Add(context.Background(), pubPEM, "")
	if err != nil {
		t.Fatalf("register key: %v", err)
	}
	signer, _, err := envelope.LoadPrivateKey(privPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, statement, signer)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return raw, k.ID
}

// intotoSigner signs with in-toto-golang's own DSSE signer (the statement
// re-encoded as canonical JSON by in-toto-golang), with a key in-toto-golang
// loaded; the signature carries the key id trustd's registry gives the key.
func intotoSigner(t *testing.T, e *env, statement []byte) ([]byte, string) {
	t.Helper()
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := e.keys.Add(context.Background(), pub.Encode(), "")
	if err != nil {
		t.Fatal(err)
	}
	var ik intoto.Key
	if err := ik.LoadKeyReaderDefaults(bytes.NewReader(priv)); err != nil {
		t.Fatal(err)
	}
	ik.KeyID = k.ID
	var payload map[string]any
	if err := json.Unmarshal(statement, &payload); err != nil {
		t.Fatal(err)
	}
	var ie intoto.Envelope
	if err := ie.SetPayload(payload); err != nil {
		t.Fatal(err)
	}
	if err := ie.Sign(ik); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "statement.dsse.json")
	if err := ie.Dump(path); err != nil {
		t.Fatal(err)
	}
	return readFile(t, path), k.ID
}

func TestDSSEAttestations(t *testing.T) {
	signers := []struct {
		name string
		sign signerFunc
	}{
		{"openssl ed25519", opensslSigner("-algorithm", "ED25519")},
		{"openssl ecdsa P-256", opensslSigner("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")},
		{"openssl rsa 3072", opensslSigner("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072")},
		{"go ed25519", goSigner(envelope.KeyTypeED25519)},
		{"go ecdsa-p256", goSigner(envelope.KeyTypeECDSAP256)},
		{"in-toto-golang", intotoSigner},
	}
	predicates := []struct {
		typ, predicate string
		check          func(t *testing.T, a attest.Attestation)
	}{
		{attest.PredicateSLSAProvenanceV02, readString(t, "provenance-v0.2.json"), func(t *testing.T, a attest.Attestation) {
			if a.Index == nil || a.Index.BuilderID != "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.9.0" ||
				a.Index.SourceRepository != "https://github.com/example/app" || a.Index.SourceRef != "refs/tags/v1.0.0" ||
				a.Index.BuildType != "https://github.com/slsa-framework/slsa-github-generator/generic@v1" {
				t.Errorf("index = %+v", a.Index)
			}
		}},
		{attest.PredicateSLSAProvenanceV1, provenanceV1, func(t *testing.T, a attest.Attestation) {
			if a.Index == nil || a.Index.SourceRepository != "https://github.com/example/app" {
				t.Errorf("index = %+v", a.Index)
			}
		}},
		{attest.PredicateSPDX, readString(t, "spdx.json"), func(t *testing.T, a attest.Attestation) {
			if a.Index == nil || a.Index.DocumentName != "app-1.0.0" || a.Index.DocumentVersion != "SPDX-2.3" {
				t.Errorf("index = %+v", a.Index)
			}
		}},
		{attest.PredicateCycloneDX + "/v1.5", readString(t, "cyclonedx.json"), func(t *testing.T, a attest.Attestation) {
			if a.Index == nil || a.Index.DocumentName != "app" || a.Index.DocumentVersion != "1.0.0" {
				t.Errorf("index = %+v", a.Index)
			}
		}},
		{attest.PredicateSLSAVSAV1, readString(t, "vsa.json"), func(t *testing.T, a attest.Attestation) {
			if a.Index == nil || a.Index.VerifierID != "https://verifier.example.com" || a.Index.VerificationResult != "PASSED" {
				t.Errorf("index = %+v", a.Index)
			}
		}},
		{"https://example.com/test-result/v1", `{"passed":true}`, func(t *testing.T, a attest.Attestation) {
			if a.Index != nil {
				t.Errorf("opaque predicate indexed: %+v", a.Index)
			}
		}},
	}
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			ctx := context.Background()
			for i, s := range signers {
				p := predicates[i%len(predicates)]
				t.Run(s.name+" "+p.typ, func(t *testing.T) {
					subject := sumsOf(fmt.Sprintf("artifact %d", i))
					raw, keyID := s.sign(t, e, statementJSON(t, p.typ, p.predicate, envelope.Subject{Name: "app.tar.gz", Digests: subject}))
					a, created, err := e.svc.Put(ctx, attest.PutRequest{Data: raw, Digest: subject[0]})
					if err != nil {
						t.Fatalf("Put: %v", err)
					}
					if !created || a.Kind != attest.KindDSSE || a.PredicateType != p.typ || len(a.SignerIDs) != 1 || a.SignerIDs[0] != keyID {
						t.Fatalf("Put = %+v, %v", a, created)
					}
					p.check(t, a)
					// Found by either digest of the subject, filtered by signer.
					for _, d := range subject {
						list, _, err := e.svc.List(ctx, attest.Query{Digest: d, SignerID: keyID, PageSize: 10})
						if err != nil || len(list) != 1 || list[0].Seq != a.Seq || list[0].Subjects[0].Digests[0] != d {
							t.Errorf("List(%s) = %+v, %v", d, list, err)
						}
						p.check(t, list[0])
					}
					got, err := e.svc.Get(ctx, a.Seq)
					if err != nil || !bytes.Equal(got.Envelope, raw) || len(got.Subjects) != 1 || len(got.Subjects[0].Digests) != 2 {
						t.Errorf("Get(%d) = %+v, %v", a.Seq, got, err)
					}
				})
			}
			t.Run("list filters and pages", func(t *testing.T) {
				d := sumsOf("paged artifact")
				var seqs []int64
				for i := range 5 {
					typ := "https://example.com/other/v1"
					if i%2 == 0 {
						typ = "https://example.com/wanted/v1"
					}
					raw, _ := goSigner(envelope.KeyTypeED25519)(t, e, statementJSON(t, typ, fmt.Sprintf(`{"n":%d}`, i), envelope.Subject{Digests: d}))
					a, _, err := e.svc.Put(ctx, attest.PutRequest{Data: raw})
					if err != nil {
						t.Fatal(err)
					}
					seqs = append(seqs, a.Seq)
				}
				var seen []int64
				token := ""
				for {
					page, next, err := e.svc.List(ctx, attest.Query{Digest: d[1], PredicateType: "https://example.com/wanted/v1", PageSize: 2, PageToken: token})
					if err != nil {
						t.Fatal(err)
					}
					for _, a := range page {
						seen = append(seen, a.Seq)
					}
					if next == "" {
						break
					}
					token = next
				}
				if want := []int64{seqs[4], seqs[2], seqs[0]}; fmt.Sprint(seen) != fmt.Sprint(want) {
					t.Errorf("paged = %v, want %v", seen, want)
				}
				if _, _, err := e.svc.List(ctx, attest.Query{Digest: d[0], PageSize: 2, PageToken: "x"}); err == nil {
					t.Error("a bad page token was accepted")
				}
			})
		})
	}
}

func readString(t *testing.T, name string) string {
	return string(readTestdata(t, name))
}

func TestDSSERejections(t *testing.T) {
	e := newEnv(t, teststore.Backends()[0], 0)
	ctx := context.Background()
	d := sumsOf("rejected")
	sign := goSigner(envelope.KeyTypeED25519)
	unregistered := func(t *testing.T, statement []byte) []byte {
		priv, _, err := envelope.GenerateKey(envelope.KeyTypeED25519)
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := envelope.LoadPrivateKey(priv, nil)
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, statement, s)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(env)
		return raw
	}
	good, _ := sign(t, e, statementJSON(t, "https://example.com/x/v1", `{}`, envelope.Subject{Digests: d}))
	tests := []struct {
		name  string
		req   attest.PutRequest
		kind  error
		words string
	}{
		{"not JSON", attest.PutRequest{Data: []byte("hello")}, attest.ErrMalformed, "not a JSON object"},
		{"unknown shape", attest.PutRequest{Data: []byte(`{"foo":1}`)}, attest.ErrMalformed, "not a DSSE envelope"},
		{"unregistered key", attest.PutRequest{Data: unregistered(t, statementJSON(t, "https://example.com/x/v1", `{}`, envelope.Subject{Digests: d}))},
			envelope.ErrUnknownKey, "is not registered"},
		{"another digest", attest.PutRequest{Data: good, Digest: sha256Of("other")}, attest.ErrDigestMismatch, "does not name"},
		{"provenance with a numeric builder id", attest.PutRequest{Data: first(sign(t, e, statementJSON(t, attest.PredicateSLSAProvenanceV1,
			`{"buildDefinition":{"buildType":"x"},"runDetails":{"builder":{"id":7}}}`, envelope.Subject{Digests: d})))},
			attest.ErrInvalidPredicate, "predicate.runDetails.builder.id: must be a string"},
		{"provenance v0.2 with a string builder", attest.PutRequest{Data: first(sign(t, e, statementJSON(t, attest.PredicateSLSAProvenanceV02,
			`{"builder":"ci"}`, envelope.Subject{Digests: d})))},
			attest.ErrInvalidPredicate, "predicate.builder: must be an object"},
		{"vsa with a bad result", attest.PutRequest{Data: first(sign(t, e, statementJSON(t, attest.PredicateSLSAVSAV1,
			`{"verifier":{"id":"v"},"verificationResult":"MAYBE"}`, envelope.Subject{Digests: d})))},
			attest.ErrInvalidPredicate, `predicate.verificationResult: "MAYBE", want PASSED or FAILED`},
		{"spdx name not a string", attest.PutRequest{Data: first(sign(t, e, statementJSON(t, attest.PredicateSPDX,
			`{"name":7}`, envelope.Subject{Digests: d})))},
			attest.ErrInvalidPredicate, `predicate.name: must be a string`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := logSize(t, e.store)
			_, _, err := e.svc.Put(ctx, tc.req)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("Put = %v; want %v mentioning %q", err, tc.kind, tc.words)
			}
			if after := logSize(t, e.store); after != before {
				t.Errorf("log grew from %d to %d on a rejection", before, after)
			}
		})
	}
}

func first(b []byte, _ string) []byte { return b }

// TestPartialPredicate: an indexed predicate that lacks fields (a
// provenance without runDetails) is stored, its index empty where the
// fields are missing.
func TestPartialPredicate(t *testing.T) {
	e := newEnv(t, teststore.Backends()[0], 0)
	raw, _ := goSigner(envelope.KeyTypeED25519)(t, e, statementJSON(t, attest.PredicateSLSAProvenanceV1, `{"builder":"ci"}`,
		envelope.Subject{Digests: sumsOf("partial")}))
	a, _, err := e.svc.Put(context.Background(), attest.PutRequest{Data: raw})
	if err != nil || a.Index == nil || *a.Index != (store.Attestation{Seq: a.Seq}) {
		t.Fatalf("Put(partial provenance) = %+v, %v", a.Index, err)
	}
}

// TestStatementV01: an in-toto v0.1 statement (as older producers write)
// is accepted and indexed like a v1 one.
func TestStatementV01(t *testing.T) {
	e := newEnv(t, teststore.Backends()[0], 0)
	d := sumsOf("old producer")
	stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"app","digest":{"sha256":%q,"sha512":%q}}],`+
		`"predicateType":%q,"predicate":%s}`, d[0].Hex(), d[1].Hex(), attest.PredicateSLSAProvenanceV02, readString(t, "provenance-v0.2.json"))
	raw, _ := goSigner(envelope.KeyTypeECDSAP256)(t, e, []byte(stmt))
	a, _, err := e.svc.Put(context.Background(), attest.PutRequest{Data: raw, Digest: d[1]})
	if err != nil || a.Index == nil || a.Index.SourceRef != "refs/tags/v1.0.0" {
		t.Fatalf("Put(v0.1 statement) = %+v, %v", a, err)
	}
}

// TestPredicateSizeLimit: a large SBOM is accepted up to the configured
// bound and rejected beyond it with an error that names the bound.
func TestPredicateSizeLimit(t *testing.T) {
	const limit = 3 << 20
	e := newEnv(t, teststore.Backends()[0], limit)
	ctx := context.Background()
	sbom := func(packages int) string {
		var b strings.Builder
		b.WriteString(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"big-sbom","packages":[`)
		for i := range packages {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"SPDXID":"SPDXRef-Package-%d","name":"pkg-%d","versionInfo":"1.%d.0","downloadLocation":"NOASSERTION"}`, i, i, i)
		}
		b.WriteString(`]}`)
		return b.String()
	}
	d := sumsOf("big image")
	sign := goSigner(envelope.KeyTypeED25519)
	big := sbom(25000) // about 2.5 MB
	if len(big) < 2<<20 || len(big) > limit {
		t.Fatalf("fixture is %d bytes", len(big))
	}
	raw, _ := sign(t, e, statementJSON(t, attest.PredicateSPDX, big, envelope.Subject{Digests: d}))
	a, _, err := e.svc.Put(ctx, attest.PutRequest{Data: raw})
	if err != nil {
		t.Fatalf("Put(%d-byte SBOM): %v", len(big), err)
	}
	if a.Index == nil || a.Index.DocumentName != "big-sbom" {
		t.Errorf("index = %+v", a.Index)
	}
	tooBig, _ := sign(t, e, statementJSON(t, attest.PredicateSPDX, sbom(32000), envelope.Subject{Digests: d}))
	_, _, err = e.svc.Put(ctx, attest.PutRequest{Data: tooBig})
	if !errors.Is(err, attest.ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("--max-attestation-bytes=%d", limit)) {
		t.Errorf("Put(over the bound) = %v; want ErrTooLarge naming the limit", err)
	}
	// The same bound holds on the plain statement path through the log.
	if _, _, err := e.log.Submit(ctx, tooBig); err == nil {
		t.Error("statement.Log accepted an attestation over the bound")
	}
}

// revokedSeqs is a Revocations that revokes chosen entries, as the
// revocation package will.
type revokedSeqs map[int64]string

func (r revokedSeqs) StatementRevoked(_ context.Context, seq int64, signers []string) (string, bool, error) {
	if len(signers) == 0 {
		return "", false, errors.New("no signers given")
	}
	why, ok := r[seq]
	return why, ok, nil
}

// TestRevocationsConsulted: listings and gets say whether each attestation
// was revoked, as the configured Revocations answers.
func TestRevocationsConsulted(t *testing.T) {
	e := newEnv(t, teststore.Backends()[0], 0)
	ctx := context.Background()
	d := sumsOf("revocable")
	sign := goSigner(envelope.KeyTypeED25519)
	var seqs []int64
	for i := range 2 {
		raw, _ := sign(t, e, statementJSON(t, "https://example.com/x/v1", fmt.Sprintf(`{"n":%d}`, i), envelope.Subject{Digests: d}))
		a, _, err := e.svc.Put(ctx, attest.PutRequest{Data: raw})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, a.Seq)
	}
	svc := attest.New(e.store, e.log, attest.Options{Revocations: revokedSeqs{seqs[0]: "key compromised"}})
	list, _, err := svc.List(ctx, attest.Query{Digest: d[0], PageSize: 10})
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if list[0].Seq != seqs[1] || list[0].Revoked || list[1].Seq != seqs[0] || !list[1].Revoked || list[1].RevokedWhy != "key compromised" {
		t.Errorf("List = %+v", list)
	}
	if a, err := svc.Get(ctx, seqs[0]); err != nil || !a.Revoked {
		t.Errorf("Get(%d) = %+v, %v", seqs[0], a, err)
	}
	if a, err := e.svc.Get(ctx, seqs[0]); err != nil || a.Revoked {
		t.Errorf("Get without Revocations = %+v, %v", a, err)
	}
}
