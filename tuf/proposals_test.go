package tuf

import (
	"errors"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TestStrangerCannotBlockRotation: a root proposal that no key of the
// current root signs is refused and nothing is stored, so it cannot block
// the owners' rotation; the owners' 2-of-3 proposal then publishes.
func TestStrangerCannotBlockRotation(t *testing.T) {
	f := newFixture(t, fixtureOpts{rootKeys: 3, rootThreshold: 2})
	f.publishTargets(metadata.TARGETS, addTarget(t, "a.bin", []byte("a")), f.targets...)
	stranger := newTestKey(t, 0)
	before := f.st.Fingerprint(f.repo)
	_, err := f.svc.Upload(f.ctx, f.repo, metadata.ROOT, f.signRoot(2, []testKey{stranger}, 1, f.targets, 1, f.online, stranger))
	if !errors.Is(err, ErrNotAuthorized) || !strings.Contains(err.Error(), "root v1") {
		t.Fatalf("stranger's root v2 = %v, want ErrNotAuthorized naming root v1", err)
	}
	if f.st.Fingerprint(f.repo) != before {
		t.Fatal("the refused proposal was stored")
	}
	// The owners rotate to new keys: one signs the proposal, the other
	// adds a signature, and the new key signs too.
	next := newTestKey(t, 0)
	res, err := f.svc.Upload(f.ctx, f.repo, metadata.ROOT, f.signRoot(2, []testKey{next}, 1, f.targets, 1, f.online, f.root[0]))
	if err != nil || res.Pending == nil {
		t.Fatalf("owners' proposal: %+v, %v", res, err)
	}
	doc := f.pendingData(metadata.ROOT, 2)
	for _, k := range []testKey{f.root[1], next} {
		sigs, err := SignatureFor(doc, k.signer)
		if err != nil {
			t.Fatal(err)
		}
		if res, err = f.svc.AddSignatures(f.ctx, f.repo, metadata.ROOT, 2, "", sigs); err != nil {
			t.Fatal(err)
		}
	}
	if res.Pending != nil || f.st.Latest(f.repo)[metadata.ROOT] != 2 {
		t.Fatalf("root v2 not published: %+v", res.Pending)
	}
}

// TestSeveralProposals: two holders of the current root each propose a
// different root v2; both are pending, keyed by their signed digest. A
// signature for "the" proposal is ambiguous until it names one; the first
// to meet both thresholds is published and the other becomes void.
func TestSeveralProposals(t *testing.T) {
	f := newFixture(t, fixtureOpts{rootKeys: 3, rootThreshold: 2})
	f.publishTargets(metadata.TARGETS, addTarget(t, "a.bin", []byte("a")), f.targets...)
	a, b, c := f.root[0], f.root[1], f.root[2]
	// A key holder gone rogue (or careless) proposes first, with a long
	// expiry, and never gets a second signature.
	rogue := newTestKey(t, 0)
	res, err := f.svc.Upload(f.ctx, f.repo, metadata.ROOT, f.signRoot(2, []testKey{rogue}, 1, f.targets, 1, f.online, a))
	if err != nil || res.Pending == nil {
		t.Fatalf("first proposal: %+v, %v", res, err)
	}
	first := res.Pending.SignedDigest
	// The owners' own proposal (retiring C for a new key N, 2 of 3) is kept
	// beside it, not refused.
	n := newTestKey(t, 0)
	owners := []testKey{a, b, n}
	res, err = f.svc.Upload(f.ctx, f.repo, metadata.ROOT, f.signRoot(2, owners, 2, f.targets, 1, f.online, b))
	if err != nil || res.Pending == nil {
		t.Fatalf("second proposal: %+v, %v; want it pending beside the first", res, err)
	}
	second := res.Pending.SignedDigest
	if first == second || len(second) != 64 {
		t.Fatalf("digests %q, %q", first, second)
	}
	st, err := f.svc.Status(f.ctx, f.repo)
	if err != nil || len(st.Pending) != 2 {
		t.Fatalf("status: %+v, %v; want two pending", st, err)
	}
	// Re-uploading the second with one more signature merges into it.
	res, err = f.svc.Upload(f.ctx, f.repo, metadata.ROOT, f.signRoot(2, owners, 2, f.targets, 1, f.online, c))
	if err != nil || res.Pending == nil || res.Pending.SignedDigest != second || len(res.Pending.Thresholds[0].Signed) != 2 {
		t.Fatalf("merge into the second: %+v, %v", res, err)
	}

	doc, err := f.svc.Proposal(f.ctx, f.repo, metadata.ROOT, 2, second[:12])
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := SignatureFor(doc.Data, a.signer)
	if err != nil {
		t.Fatal(err)
	}
	before := f.st.Fingerprint(f.repo)
	for _, tc := range []struct {
		proposal string
		err      error
		reason   string
	}{
		{"", ErrAmbiguous, first[:12]},
		{"abc", ErrMalformed, "8"},
		{"not-hex-not-hex", ErrMalformed, "hex"},
		{strings.Repeat("0", 16), ErrNotFound, "no pending"},
	} {
		_, err := f.svc.AddSignatures(f.ctx, f.repo, metadata.ROOT, 2, tc.proposal, sigs)
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("AddSignatures(proposal %q) = %v, want %v naming %q", tc.proposal, err, tc.err, tc.reason)
		}
	}
	// B's signature over the second proposal does not verify on the first.
	bsigs, err := SignatureFor(doc.Data, b.signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddSignatures(f.ctx, f.repo, metadata.ROOT, 2, first, bsigs); !errors.Is(err, ErrBadSignature) {
		t.Errorf("signature of the second added to the first = %v, want ErrBadSignature", err)
	}
	if f.st.Fingerprint(f.repo) != before {
		t.Fatal("refused signatures changed the state")
	}
	// The second has root v1's threshold (B, C) and half its own (B); A's
	// signature completes it and it is published.
	res, err = f.svc.AddSignatures(f.ctx, f.repo, metadata.ROOT, 2, second[:8], sigs)
	if err != nil || res.Pending != nil {
		t.Fatalf("publish the second: %+v, %v", res, err)
	}
	published, err := f.svc.Metadata(f.ctx, f.repo, "2.root.json")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := ProposalDigest(published); err != nil || d != second {
		t.Fatalf("published root v2 has digest %s (%v), want %s", d, err, second)
	}
	if st, err = f.svc.Status(f.ctx, f.repo); err != nil || len(st.Pending) != 0 {
		t.Fatalf("after publishing: %+v, %v; want the other proposal void", st.Pending, err)
	}
	if _, err := f.svc.AddSignatures(f.ctx, f.repo, metadata.ROOT, 2, first, sigs); !errors.Is(err, ErrNotFound) {
		t.Errorf("signing the void proposal = %v, want ErrNotFound", err)
	}
}

// TestSeveralTargetsProposals: the same rule for a targets role: a second
// holder's different targets v1 is kept beside the first instead of
// refused, and the first to reach the threshold is published.
func TestSeveralTargetsProposals(t *testing.T) {
	f := newFixture(t, fixtureOpts{targetsKeys: 3, targetsThreshold: 2})
	k := f.targets
	one := mustSign(t, f.nextTargets(metadata.TARGETS, addTarget(t, "one.bin", []byte("1"))), k[0])
	two := f.nextTargets(metadata.TARGETS, addTarget(t, "two.bin", []byte("2")))
	for _, doc := range [][]byte{one, mustSign(t, two, k[1])} {
		if res, err := f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, doc); err != nil || res.Pending == nil {
			t.Fatalf("upload: %+v, %v", res, err)
		}
	}
	res, err := f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, mustSign(t, two, k[2]))
	if err != nil || res.Pending != nil || len(res.Targets) != 1 || res.Targets[0].Name != "two.bin" {
		t.Fatalf("second proposal, second signature: %+v, %v; want published", res, err)
	}
	if ps, _ := f.st.Pending(f.ctx, f.repo); len(ps) != 0 {
		t.Fatalf("pending after publishing: %+v", ps)
	}
}
