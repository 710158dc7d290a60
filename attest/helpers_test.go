package attest_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	sigtlog "github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
)

// env is a Service over a fresh store, with a virtual Sigstore (Fulcio CA,
// Rekor log, TSA: sigstore-go's own test helpers) whose trusted root is
// the Service's.
type env struct {
	store store.Store
	log   *statement.Log
	svc   *attest.Service
	keys  *keys.Registry
	vs    *ca.VirtualSigstore
	root  string // trusted_root.json of vs
}

func newEnv(t testing.TB, b teststore.Backend, maxStatement int) *env {
	t.Helper()
	st := b.Open(t)
	skey, vkey, err := tlog.GenerateLogKey("attest-test")
	if err != nil {
		t.Fatal(err)
	}
	l, err := statement.New(st, statement.Options{
		LogKey: skey, LogVerifierKey: vkey,
		Limits:     envelope.Limits{MaxEnvelopeBytes: attest.EnvelopeBound(maxStatement)},
		Validators: attest.Validators(maxStatement), Indexers: attest.Indexers(),
	})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	path := writeTrustedRoot(t, vs)
	tr, err := attest.LoadTrustedRoot(path)
	if err != nil {
		t.Fatal(err)
	}
	svc := attest.New(st, l, attest.Options{MaxStatementBytes: maxStatement, Sigstore: tr})
	return &env{store: st, log: l, svc: svc, keys: keys.NewRegistry(st), vs: vs, root: path}
}

// writeTrustedRoot writes vs's trust material as a trusted_root.json, the
// file a deployment hands trustd.
func writeTrustedRoot(t testing.TB, vs *ca.VirtualSigstore) string {
	t.Helper()
	// The virtual logs carry their hex key id as their id bytes; a trusted
	// root holds the raw key id.
	logs := func(m map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
		for id, l := range m {
			raw, err := hex.DecodeString(id)
			if err != nil {
				t.Fatal(err)
			}
			l.ID = raw
		}
		return m
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), logs(vs.CTLogs()),
		vs.TimestampingAuthorities(), logs(vs.RekorLogs()))
	if err != nil {
		t.Fatal(err)
	}
	data, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// bundleOpts choose what verification material a test bundle carries.
type bundleOpts struct {
	tlog, tsa bool
	mediaType string // default v0.3
}

// toBundle serialises a virtual-Sigstore signature as a Sigstore bundle
// (JSON), as cosign --bundle and sigstore-go write it. The virtual log
// signs the entry's signed entry timestamp again here, because its test
// entity keeps the one it made to itself.
func toBundle(t testing.TB, vs *ca.VirtualSigstore, e *ca.TestEntity, o bundleOpts) []byte {
	t.Helper()
	vc, err := e.VerificationContent()
	if err != nil {
		t.Fatal(err)
	}
	if o.mediaType == "" {
		o.mediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	}
	b := &protobundle.Bundle{
		MediaType: o.mediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
		},
	}
	sc, err := e.SignatureContent()
	if err != nil {
		t.Fatal(err)
	}
	kind := "hashedrekord"
	if env := sc.EnvelopeContent(); env != nil {
		kind = "dsse"
		raw := env.RawEnvelope()
		payload, err := base64.StdEncoding.DecodeString(raw.Payload)
		if err != nil {
			t.Fatal(err)
		}
		d := &protodsse.Envelope{Payload: payload, PayloadType: raw.PayloadType}
		for _, s := range raw.Signatures {
			sig, err := base64.StdEncoding.DecodeString(s.Sig)
			if err != nil {
				t.Fatal(err)
			}
			d.Signatures = append(d.Signatures, &protodsse.Signature{Sig: sig, Keyid: s.KeyID})
		}
		b.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: d}
	} else {
		ms := sc.MessageSignatureContent()
		b.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: ms.Digest()},
			Signature:     ms.Signature(),
		}}
	}
	if o.tlog {
		entries, err := e.TlogEntries()
		if err != nil {
			t.Fatal(err)
		}
		for _, entry := range entries {
			tle := proto.Clone(entry.TransparencyLogEntry()).(*protorekor.TransparencyLogEntry)
			tle.KindVersion = &protorekor.KindVersion{Kind: kind, Version: "0.0.1"}
			set, err := vs.RekorSignPayload(sigtlog.RekorPayload{
				Body:           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
				IntegratedTime: tle.IntegratedTime, LogIndex: tle.LogIndex, LogID: hex.EncodeToString(tle.LogId.KeyId),
			})
			if err != nil {
				t.Fatal(err)
			}
			tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
			b.VerificationMaterial.TlogEntries = append(b.VerificationMaterial.TlogEntries, tle)
		}
	}
	if o.tsa {
		stamps, err := e.Timestamps()
		if err != nil {
			t.Fatal(err)
		}
		tvd := &protobundle.TimestampVerificationData{}
		for _, s := range stamps {
			tvd.Rfc3161Timestamps = append(tvd.Rfc3161Timestamps, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: s})
		}
		b.VerificationMaterial.TimestampVerificationData = tvd
	}
	data, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// statementJSON is an in-toto v1 statement about subjects.
func statementJSON(t testing.TB, predicateType string, predicate string, subjects ...envelope.Subject) []byte {
	t.Helper()
	var p json.RawMessage
	if predicate != "" {
		p = json.RawMessage(predicate)
	}
	data, err := envelope.NewStatement(predicateType, p, subjects...)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// attestBundle signs statement keylessly as identity/issuer at the
// virtual Sigstore, with a log entry (inclusion proof and promise) at
// integrated and a signed timestamp as o says.
func attestBundle(t testing.TB, vs *ca.VirtualSigstore, identity, issuer string, statement []byte, integrated time.Time, o bundleOpts) []byte {
	t.Helper()
	e, err := vs.AttestAtTime(identity, issuer, statement, integrated, true)
	if err != nil {
		t.Fatal(err)
	}
	return toBundle(t, vs, e, o)
}

func sha256Of(s string) digest.Digest {
	res, err := digest.Sum(context.Background(), strings.NewReader(s), []digest.Algorithm{digest.SHA256})
	if err != nil {
		panic(err)
	}
	return res.Digests[0]
}

func sumsOf(s string) []digest.Digest {
	res, err := digest.Sum(context.Background(), strings.NewReader(s), []digest.Algorithm{digest.SHA256, digest.SHA512})
	if err != nil {
		panic(err)
	}
	return res.Digests
}

func logSize(t testing.TB, s store.Store) uint64 {
	t.Helper()
	n, err := s.LogSize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
