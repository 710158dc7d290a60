package apiconv_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/evidence"
	"github.com/trustd-dev/trustd/internal/apiconv"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/tlog"
)

// seedBundle is a one-entry bundle that verifies: a DSSE attestation by
// an ed25519 key, proven in a log of size 1 under a signed checkpoint.
func seedBundle(t testing.TB) (*evidence.Bundle, string) {
	t.Helper()
	ctx := context.Background()
	skey, vkey, err := tlog.GenerateLogKey("fuzz-log")
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := digest.Parse("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := envelope.NewStatement("https://example.com/p/v1", json.RawMessage(`{}`), envelope.Subject{Name: "a", Digests: []digest.Digest{d}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, stmt, signer)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.SignCheckpoint(tlog.Checkpoint{Origin: "fuzz-log", Size: 1, Hash: tlog.LeafHash(raw)}, skey)
	if err != nil {
		t.Fatal(err)
	}
	b := &evidence.Bundle{Digests: []digest.Digest{d}, At: time.Unix(1700000000, 0).UTC(), Kinds: []evidence.Kind{evidence.KindEntries, evidence.KindAttestations},
		Log: &evidence.Checkpoint{Signed: cp, VerifierKey: vkey, Size: 1},
		Entries: []evidence.Entry{{Seq: 1, Envelope: raw, PayloadType: recordtype.PayloadTypeInToto, PredicateType: "https://example.com/p/v1",
			SignerKeyIDs: []string{pub.ID}, Digests: []digest.Digest{d}}},
		Keys:         []evidence.Key{{ID: pub.ID, Type: pub.Type, PublicKey: pub.Encode()}},
		Attestations: []evidence.Attestation{{Seq: 1, Digest: d, PredicateType: "https://example.com/p/v1", Signers: []string{pub.ID}}},
		Revocations:  []evidence.Revocation{{Kind: evidence.TargetDigest, ID: d.String()}},
	}
	return b, vkey
}

// TestBundleRoundTrip: evidence survives the wire, and still verifies.
func TestBundleRoundTrip(t *testing.T) {
	b, vkey := seedBundle(t)
	data, err := proto.Marshal(apiconv.BundleToProto(b))
	if err != nil {
		t.Fatal(err)
	}
	var p trustv1.GetEvidenceResponse
	if err := proto.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	got, err := apiconv.BundleFromProto(&p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evidence.Verify(context.Background(), got, evidence.VerifyOptions{LogKey: vkey, Digests: b.Digests}); err != nil {
		t.Fatalf("Verify after the wire: %v", err)
	}
	want, _ := json.Marshal(b)
	have, _ := json.Marshal(got)
	if string(want) != string(have) {
		t.Errorf("round trip changed the bundle:\n%s\n%s", want, have)
	}
}

// FuzzBundle feeds arbitrary GetEvidence answers (untrusted: the server's)
// through the conversion, the check and the policy sources: nothing
// panics, and what verifies converts back to the same wire form.
func FuzzBundle(f *testing.F) {
	b, vkey := seedBundle(f)
	seed, err := proto.Marshal(apiconv.BundleToProto(b))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p trustv1.GetEvidenceResponse
		if proto.Unmarshal(data, &p) != nil {
			return
		}
		got, err := apiconv.BundleFromProto(&p)
		if err != nil {
			return
		}
		ctx := context.Background()
		set, err := evidence.Verify(ctx, got, evidence.VerifyOptions{LogKey: vkey})
		if err != nil {
			return
		}
		src := set.Sources(evidence.SourceOptions{})
		for _, d := range got.Digests {
			ds := []digest.Digest{d}
			if src.Attestations != nil {
				_, _ = src.Attestations.Attestations(ctx, ds, "https://example.com/p/v1")
			}
			if src.Signers != nil {
				_, _ = src.Signers.Signatures(ctx, ds)
			}
			if src.Revocations != nil {
				_, _ = src.Revocations.Revocations(ctx, policy.RevocationQuery{Digests: ds})
			}
		}
		if !proto.Equal(apiconv.BundleToProto(got), apiconv.BundleToProto(mustRoundTrip(t, got))) {
			t.Error("a verified bundle does not survive the wire")
		}
	})
}

func mustRoundTrip(t *testing.T, b *evidence.Bundle) *evidence.Bundle {
	data, err := proto.Marshal(apiconv.BundleToProto(b))
	if err != nil {
		t.Fatal(err)
	}
	var p trustv1.GetEvidenceResponse
	if err := proto.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	out, err := apiconv.BundleFromProto(&p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifyFollowsLogKeyRotation: evidence proven under a checkpoint that
// announces a planned rotation of the log key, signed by the pinned key
// and the new one, verifies against the pinned key ('trustctl log'
// follows it the same way); one signed by the new key alone does not.
func TestVerifyFollowsLogKeyRotation(t *testing.T) {
	ctx := context.Background()
	b, _ := seedBundle(t)
	oldSkey, oldVkey, err := tlog.GenerateLogKey("fuzz-log")
	if err != nil {
		t.Fatal(err)
	}
	newSkey, newVkey, err := tlog.GenerateLogKey("fuzz-log")
	if err != nil {
		t.Fatal(err)
	}
	cp := tlog.Checkpoint{Origin: "fuzz-log", Size: 1, Hash: tlog.LeafHash(b.Entries[0].Envelope)}
	sign := func(skey string, cosigners ...string) []byte {
		t.Helper()
		c := cp
		if len(cosigners) > 0 {
			c.NewKey = newVkey
		}
		signed, err := tlog.SignCheckpoint(c, skey, cosigners...)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	for _, tc := range []struct {
		name   string
		signed []byte
		ok     bool
	}{
		{"rotation signed by the pinned and the new key", sign(newSkey, oldSkey), true},
		{"the new key alone", sign(newSkey), false},
	} {
		b.Log = &evidence.Checkpoint{Signed: tc.signed, VerifierKey: newVkey, Size: 1}
		_, err := evidence.Verify(ctx, b, evidence.VerifyOptions{LogKey: oldVkey, Digests: b.Digests})
		if (err == nil) != tc.ok {
			t.Errorf("%s: Verify = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
