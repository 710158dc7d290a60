// Package attesttest makes keyless Sigstore bundles offline for tests,
// with sigstore-go's virtual Sigstore (a Fulcio CA, a Rekor log and a
// timestamp authority in memory): the trusted_root.json a deployment would
// give trustd, and bundles as cosign and sigstore-go write them. It also
// makes in-toto supply chains: with in-toto-golang (SupplyChain) and with
// the Python reference tools (RefChain), for differential tests.
package attesttest

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
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
)

// WriteTrustedRoot writes vs's trust material as a trusted_root.json, the
// file a deployment hands trustd.
func WriteTrustedRoot(t testing.TB, vs *ca.VirtualSigstore) string {
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

// Opts choose what verification material a test bundle carries.
type Opts struct {
	// TLog adds the log entry (inclusion proof and promise), TSA the
	// signed timestamp.
	TLog, TSA bool
	// MediaType is the bundle media type; default v0.3.
	MediaType string
}

// Bundle serialises a virtual-Sigstore signature as a Sigstore bundle
// (JSON), as cosign --bundle and sigstore-go write it. The virtual log
// signs the entry's signed entry timestamp again here, because its test
// entity keeps the one it made to itself.
func Bundle(t testing.TB, vs *ca.VirtualSigstore, e *ca.TestEntity, o Opts) []byte {
	t.Helper()
	vc, err := e.VerificationContent()
	if err != nil {
		t.Fatal(err)
	}
	if o.MediaType == "" {
		o.MediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	}
	b := &protobundle.Bundle{
		MediaType: o.MediaType,
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
	if o.TLog {
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
	if o.TSA {
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

// Attest signs statement keylessly as identity/issuer at the
// virtual Sigstore, with a log entry (inclusion proof and promise) at
// integrated and a signed timestamp as o says.
func Attest(t testing.TB, vs *ca.VirtualSigstore, identity, issuer string, statement []byte, integrated time.Time, o Opts) []byte {
	t.Helper()
	e, err := vs.AttestAtTime(identity, issuer, statement, integrated, true)
	if err != nil {
		t.Fatal(err)
	}
	return Bundle(t, vs, e, o)
}
