package tuf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Fuzz seeds live in testdata/upload: documents signed with the
// deterministic keys of newFuzzFixture (seedBase 1), regenerated with
// TUF_UPDATE_TESTDATA=1 go test -run TestFuzzSeeds ./tuf/.
const fuzzSeedBase = 1

func newFuzzFixture(tb testing.TB) *fixture {
	return newFixture(tb, fixtureOpts{seedBase: fuzzSeedBase})
}

// fuzzSeeds builds the seed documents for a fresh fuzz fixture.
func fuzzSeeds(tb testing.TB, f *fixture) map[string][]byte {
	expires, _ := time.Parse(ExpiresLayout, "2099-01-01T00:00:00Z")
	rel := newTestKey(tb, 50)
	md := metadata.Targets(expires)
	md.Signed.Targets["app/app-1.0.tar.gz"] = fakeTarget("app/app-1.0.tar.gz")
	md.Signed.Delegations = &metadata.Delegations{
		Keys:  map[string]*metadata.Key{rel.id: rel.key},
		Roles: []metadata.DelegatedRole{{Name: "releases", KeyIDs: []string{rel.id}, Threshold: 1, Paths: []string{"rel/*"}}},
	}
	bins, err := HashedBins("bins", 2, keySet(1, rel))
	if err != nil {
		tb.Fatal(err)
	}
	mdBins := metadata.Targets(expires)
	mdBins.Signed.Delegations = bins
	root2 := f.buildRoot(2, f.root, 1, f.targets, 1, f.online)
	root2.Signed.Expires = expires
	return map[string][]byte{
		"targets-v1.json":          mustSign(tb, md, f.targets...),
		"targets-v1-unsigned.json": mustSign(tb, md),
		"targets-v1-bins.json":     mustSign(tb, mdBins, f.targets...),
		"root-v2.json":             mustSign(tb, root2, f.root...),
		"dup-key.json":             []byte(`{"signed":{"_type":"targets","_type":"root"},"signatures":[]}`),
		"float.json":               []byte(`{"signed":{"_type":"targets","spec_version":"1.0.31","version":1,"expires":"2099-01-01T00:00:00Z","targets":{"a":{"length":1.5,"hashes":{}}}},"signatures":[]}`),
		"escaped.json":             []byte(`{"signed":{"_type":"targets","spec_version":"1.0.31","version":1,"expires":"2099-01-01T00:00:00Z","targets":{},"delegation\u0073":{"keys":{}}},"signatures":[]}`),
	}
}

// TestFuzzSeeds checks that the checked-in seeds are current and that the
// valid ones are accepted.
func TestFuzzSeeds(t *testing.T) {
	f := newFuzzFixture(t)
	dir := filepath.Join("testdata", "upload")
	for name, data := range fuzzSeeds(t, f) {
		p := filepath.Join(dir, name)
		if os.Getenv("TUF_UPDATE_TESTDATA") != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (regenerate with TUF_UPDATE_TESTDATA=1)", err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%s is stale (regenerate with TUF_UPDATE_TESTDATA=1)", p)
		}
	}
	seed, err := os.ReadFile(filepath.Join(dir, "targets-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := f.svc.Upload(f.ctx, f.repo, metadata.TARGETS, seed); err != nil || res.Pending != nil {
		t.Fatalf("seed targets-v1.json: %v", err)
	}
}

// FuzzUpload feeds arbitrary bytes to Upload as targets, delegated and root
// metadata: it must never panic, and must change the state only when it
// accepts the document (then the document is stored verbatim or pending).
func FuzzUpload(f *testing.F) {
	fx := newFuzzFixture(f)
	entries, err := os.ReadDir(filepath.Join("testdata", "upload"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("testdata", "upload", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		for role := byte(0); role < 3; role++ {
			f.Add(role, data)
		}
	}
	roles := []string{metadata.TARGETS, "releases", metadata.ROOT}
	f.Fuzz(func(t *testing.T, role byte, data []byte) {
		r := roles[int(role)%len(roles)]
		before := fx.st.Fingerprint(fx.repo)
		res, err := fx.svc.Upload(fx.ctx, fx.repo, r, data)
		after := fx.st.Fingerprint(fx.repo)
		if err != nil {
			if after != before {
				t.Fatalf("rejected upload (%v) changed the state", err)
			}
			return
		}
		if res.Pending == nil {
			if got, err := fx.st.Get(fx.ctx, fx.repo, r, 0); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("accepted %s not stored verbatim", r)
			}
		} else if after == before && len(res.Pending.Thresholds) > 0 {
			// Re-submitting an identical pending proposal is a no-op.
			return
		}
	})
}

// FuzzParseFileName feeds HTTP path elements to ParseFileName: it never
// panics, and whatever it accepts names a role without a path separator
// and, written back canonically, parses to the same role and version.
func FuzzParseFileName(f *testing.F) {
	for _, s := range []string{"1.root.json", "timestamp.json", "12.snapshot.json", "3.targets.json", "2.bins-0a.json",
		"0.root.json", "007.root.json", "root", ".json", "1..json", "-1.root.json", "99999999999999999999.root.json", "a/b.json"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		role, version, ok := ParseFileName(name)
		if !ok {
			return
		}
		if role == "" || version < 0 || strings.Contains(role, "/") {
			t.Fatalf("ParseFileName(%q) = %q, %d", name, role, version)
		}
		canon := role + ".json"
		if version > 0 {
			canon = fmt.Sprintf("%d.%s", version, canon)
		}
		r2, v2, ok2 := ParseFileName(canon)
		if !ok2 || r2 != role || v2 != version {
			t.Fatalf("canonical %q of %q parses to %q, %d, %v", canon, name, r2, v2, ok2)
		}
	})
}

// FuzzProposalDigest: any bytes give an error or a 64-hex-digit digest that
// does not depend on the signatures, since the signed part is the
// proposal's key.
func FuzzProposalDigest(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "upload"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("testdata", "upload", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"signed":{"_type":"snapshot"},"signatures":[]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := ProposalDigest(doc)
		if err != nil {
			return
		}
		if len(d) != 64 || !isHex(d) {
			t.Fatalf("ProposalDigest = %q", d)
		}
		stripped, err := mergeSignatures(doc, nil)
		if err != nil {
			return
		}
		var raw rawDoc
		if json.Unmarshal(stripped, &raw) != nil {
			return
		}
		raw.Signatures = nil
		bare, err := json.Marshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		if d2, err := ProposalDigest(bare); err != nil || d2 != d {
			t.Fatalf("without signatures: %q, %v; want %q", d2, err, d)
		}
	})
}
