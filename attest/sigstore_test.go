package attest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/attest/attesttest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
)

const (
	issuer   = "https://token.actions.example.com"
	identity = "release@example.com"
)

const provenanceV1 = `{"buildDefinition":{"buildType":"https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
"externalParameters":{"workflow":{"ref":"refs/heads/main","repository":"https://github.com/example/app","path":".github/workflows/release.yml"}}},
"runDetails":{"builder":{"id":"https://github.com/actions/runner/github-hosted"}}}`

func TestSigstoreBundles(t *testing.T) {
	for _, b := range teststore.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, 0)
			ctx := context.Background()
			app := sumsOf("app v1.0")
			stmt := statementJSON(t, attest.PredicateSLSAProvenanceV1, provenanceV1, envelope.Subject{Name: "app.tar.gz", Digests: app})
			now := time.Now()
			good := attesttest.Attest(t, e.vs, identity, issuer, stmt, now.Add(5*time.Minute), attesttest.Opts{TLog: true, TSA: true})

			t.Run("verified", func(t *testing.T) {
				a, created, err := e.svc.Put(ctx, attest.PutRequest{Data: good, Digest: app[1],
					Identity: attest.Identity{Issuer: issuer, Subject: identity}})
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				signer := attest.SigstoreSignerID(issuer, identity)
				if !created || a.Kind != attest.KindSigstoreBundle || len(a.SignerIDs) != 1 || a.SignerIDs[0] != signer ||
					a.PredicateType != attest.PredicateSLSAProvenanceV1 || !bytes.Equal(a.Envelope, good) {
					t.Fatalf("Put = %+v, created %v", a, created)
				}
				if a.Index == nil || a.Index.BuilderID != "https://github.com/actions/runner/github-hosted" ||
					a.Index.SourceRepository != "https://github.com/example/app" || a.Index.SourceRef != "refs/heads/main" {
					t.Errorf("index = %+v", a.Index)
				}
				if iss, sub, ok := attest.ParseSigstoreSignerID(signer); !ok || iss != issuer || sub != identity {
					t.Errorf("ParseSigstoreSignerID(%q) = %q, %q, %v", signer, iss, sub, ok)
				}
				for _, d := range app {
					list, _, err := e.svc.List(ctx, attest.Query{Digest: d, SignerID: signer, PageSize: 10})
					if err != nil || len(list) != 1 || list[0].Seq != a.Seq || list[0].Index == nil {
						t.Errorf("List(%s) = %+v, %v", d, list, err)
					}
				}
				again, created, err := e.svc.Put(ctx, attest.PutRequest{Data: good})
				if err != nil || created || again.Seq != a.Seq {
					t.Errorf("resubmit = %d, %v, %v; want the original entry", again.Seq, created, err)
				}
			})

			t.Run("timestamp only", func(t *testing.T) {
				stmt := statementJSON(t, "https://example.com/test-result/v1", `{"passed":true}`, envelope.Subject{Digests: app})
				b := attesttest.Attest(t, e.vs, identity, issuer, stmt, now.Add(5*time.Minute), attesttest.Opts{TSA: true})
				a, _, err := e.svc.Put(ctx, attest.PutRequest{Data: b})
				if err != nil || a.Index != nil || a.SignerIDs[0] != attest.SigstoreSignerID(issuer, identity) {
					t.Fatalf("Put(TSA-only bundle) = %+v, %v", a, err)
				}
			})

			t.Run("bundle versions", func(t *testing.T) {
				for i, mt := range []string{"application/vnd.dev.sigstore.bundle+json;version=0.2", "application/vnd.dev.sigstore.bundle+json;version=0.3",
					"application/vnd.dev.sigstore.bundle.v0.3+json"} {
					stmt := statementJSON(t, "https://example.com/scan/v1", fmt.Sprintf(`{"n":%d}`, i), envelope.Subject{Digests: app})
					b := attesttest.Attest(t, e.vs, identity, issuer, stmt, now.Add(5*time.Minute), attesttest.Opts{TLog: true, TSA: true, MediaType: mt})
					if a, _, err := e.svc.Put(ctx, attest.PutRequest{Data: b}); err != nil || a.PayloadType != mt {
						t.Errorf("Put(%s) = %+v, %v", mt, a, err)
					}
				}
			})

			t.Run("message signature", func(t *testing.T) {
				blob := []byte("release tarball bytes")
				ent, err := e.vs.Sign(identity, issuer, blob)
				if err != nil {
					t.Fatal(err)
				}
				b := attesttest.Bundle(t, e.vs, ent, attesttest.Opts{TLog: true, TSA: true, MediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1"})
				want := sha256Of(string(blob))
				a, _, err := e.svc.Put(ctx, attest.PutRequest{Data: b, Digest: want})
				if err != nil {
					t.Fatalf("Put(message signature) = %v", err)
				}
				if a.PredicateType != attest.MessageSignaturePredicateType || len(a.Subjects) != 1 || a.Subjects[0].Digests[0] != want {
					t.Errorf("message signature entry = %+v", a)
				}
				list, _, err := e.svc.List(ctx, attest.Query{Digest: want, PageSize: 5})
				if err != nil || len(list) != 1 || list[0].Seq != a.Seq {
					t.Errorf("List(%s) = %+v, %v", want, list, err)
				}
			})

			expired := attesttest.Attest(t, e.vs, identity, issuer, stmt, now.Add(30*time.Minute), attesttest.Opts{TLog: true})
			tampered := tamper(t, good, app)
			rejections := []struct {
				name  string
				req   attest.PutRequest
				kind  error
				words string
			}{
				{"wrong identity", attest.PutRequest{Data: good, Identity: attest.Identity{Issuer: issuer, Subject: "mallory@example.com"}},
					attest.ErrIdentity, `expected SAN value "mallory@example.com", got "release@example.com"`},
				{"wrong issuer", attest.PutRequest{Data: good, Identity: attest.Identity{Issuer: "https://accounts.example.org", Subject: identity}},
					attest.ErrIdentity, `expected issuer value "https://accounts.example.org"`},
				{"tampered payload", attest.PutRequest{Data: tampered}, attest.ErrBundleVerification, "does not match envelope payload hash"},
				{"tampered payload, timestamp only", attest.PutRequest{Data: tamper(t, attesttest.Attest(t, e.vs, identity, issuer, stmt, now.Add(5*time.Minute), attesttest.Opts{TSA: true}), app)},
					attest.ErrBundleVerification, "failed to verify signature"},
				{"certificate expired, no timestamp", attest.PutRequest{Data: toBundleNoTime(t, e, stmt)}, attest.ErrNoTimestamp, "neither a transparency log entry nor a signed timestamp"},
				{"certificate expired at the log time", attest.PutRequest{Data: expired}, attest.ErrBundleVerification, "certificate"},
				{"another digest", attest.PutRequest{Data: good, Digest: sha256Of("app v2.0")}, attest.ErrDigestMismatch, "does not name sha256:"},
				{"not a bundle", attest.PutRequest{Data: []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)}, attest.ErrInvalidBundle, "bundle"},
			}
			for _, tc := range rejections {
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
		})
	}
}

// tamper replaces the statement in a DSSE bundle by one naming another
// source repository, keeping the signature.
func tamper(t *testing.T, bundle []byte, subject []digest.Digest) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(bundle, &m); err != nil {
		t.Fatal(err)
	}
	env := m["dsseEnvelope"].(map[string]any)
	other := statementJSON(t, attest.PredicateSLSAProvenanceV1, strings.Replace(provenanceV1, "example/app", "evil/app", 1),
		envelope.Subject{Name: "app.tar.gz", Digests: subject})
	env["payload"] = base64.StdEncoding.EncodeToString(other)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// toBundleNoTime is a keyless bundle with neither a log entry nor a signed
// timestamp: its certificate (valid ten minutes) cannot be checked.
func toBundleNoTime(t *testing.T, e *env, stmt []byte) []byte {
	t.Helper()
	return attesttest.Attest(t, e.vs, identity, issuer, stmt, time.Now(), attesttest.Opts{})
}

func TestTrustedRootReload(t *testing.T) {
	e := newEnv(t, teststore.Backends()[0], 0)
	tr, err := attest.LoadTrustedRoot(e.root)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := tr.Reload(); err != nil || changed {
		t.Fatalf("Reload of an unchanged file = %v, %v", changed, err)
	}
	stmt := statementJSON(t, "https://example.com/x/v1", "", envelope.Subject{Digests: sumsOf("x")})
	b := attesttest.Attest(t, e.vs, identity, issuer, stmt, time.Now().Add(5*time.Minute), attesttest.Opts{TLog: true, TSA: true})
	if _, err := attest.VerifyBundle(tr.Material(), b, attest.BundlePolicy{}, envelope.Limits{}); err != nil {
		t.Fatalf("VerifyBundle: %v", err)
	}
	// Rotate to another Sigstore deployment: the old bundle no longer verifies.
	other := newEnv(t, teststore.Backends()[0], 0)
	data := readFile(t, other.root)
	writeFile(t, e.root, data)
	if changed, err := tr.Reload(); err != nil || !changed {
		t.Fatalf("Reload after rotation = %v, %v", changed, err)
	}
	if _, err := attest.VerifyBundle(tr.Material(), b, attest.BundlePolicy{}, envelope.Limits{}); !errors.Is(err, attest.ErrBundleVerification) {
		t.Errorf("VerifyBundle against the rotated root = %v, want ErrBundleVerification", err)
	}
	// A deployment that requires SCTs (Fulcio embeds them) refuses a
	// certificate without one.
	if _, err := attest.VerifyBundle(tr.Material(), attesttest.Attest(t, other.vs, identity, issuer, stmt, time.Now().Add(5*time.Minute), attesttest.Opts{TLog: true, TSA: true}),
		attest.BundlePolicy{RequireSCT: true}, envelope.Limits{}); !errors.Is(err, attest.ErrBundleVerification) || !strings.Contains(err.Error(), "signed certificate timestamp") {
		t.Errorf("VerifyBundle requiring an SCT = %v", err)
	}
	writeFile(t, e.root, []byte("{not json"))
	if _, err := tr.Reload(); err == nil {
		t.Error("Reload of a broken file succeeded")
	}
	if tr.Material() == nil {
		t.Error("a failed reload dropped the last good root")
	}
}

// TestTrustedRootWatch: a changed trusted root file is picked up without a
// signal.
func TestTrustedRootWatch(t *testing.T) {
	e := newEnv(t, teststore.Backends()[0], 0)
	tr, err := attest.LoadTrustedRoot(e.root)
	if err != nil {
		t.Fatal(err)
	}
	before := tr.Material()
	reports := make(chan bool, 8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tr.Watch(ctx, 10*time.Millisecond, func(changed bool, err error) {
		if err != nil {
			t.Errorf("Watch: %v", err)
		}
		reports <- changed
	})
	other := newEnv(t, teststore.Backends()[0], 0)
	// Replaced as a deployment replaces it, by rename: written in place,
	// the watcher may read it half written (and report that, keeping the
	// last good root), which is not what this test is about.
	writeFile(t, e.root+".new", readFile(t, other.root))
	if err := os.Rename(e.root+".new", e.root); err != nil {
		t.Fatal(err)
	}
	select {
	case changed := <-reports:
		if !changed || tr.Material() == before {
			t.Errorf("Watch reported changed=%v; material replaced: %v", changed, tr.Material() != before)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not notice the new trusted root")
	}
}
