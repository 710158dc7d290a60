package tuf

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// negFixture is a repository with targets v1 delegating to "early"
// (terminating, rel/locked/*) and then "releases" (rel/*, rel/*/*), and
// releases v1 published.
type negFixture struct {
	*fixture
	rel, early testKey
}

func newNegFixture(t *testing.T) *negFixture {
	f := &negFixture{fixture: newFixture(t, fixtureOpts{}), rel: newTestKey(t, 0), early: newTestKey(t, 0)}
	f.publishTargets(metadata.TARGETS, func(md *metadata.Metadata[metadata.TargetsType]) {
		md.Signed.Delegations = f.delegations()
	}, f.targets...)
	f.publishTargets("releases", addTarget(t, "rel/a.bin", []byte("a")), f.rel)
	return f
}

func (f *negFixture) delegations() *metadata.Delegations {
	return &metadata.Delegations{
		Keys: map[string]*metadata.Key{f.rel.id: f.rel.key, f.early.id: f.early.key},
		Roles: []metadata.DelegatedRole{
			{Name: "early", KeyIDs: []string{f.early.id}, Threshold: 1, Terminating: true, Paths: []string{"rel/locked/*"}},
			{Name: "releases", KeyIDs: []string{f.rel.id}, Threshold: 1, Paths: []string{"rel/*", "rel/*/*"}},
		},
	}
}

// rawEdit decodes a document into generic JSON, edits it and re-encodes it.
func rawEdit(t *testing.T, data []byte, edit func(doc map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func signedOf(doc map[string]any) map[string]any { return doc["signed"].(map[string]any) }

// rejectCase is one upload that must be refused.
type rejectCase struct {
	name  string
	role  string
	data  func() []byte
	kind  error
	field string // must appear in the error message
}

func runRejects(t *testing.T, f *fixture, cases []rejectCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data()
			before := f.st.Fingerprint(f.repo)
			res, err := f.svc.Upload(f.ctx, f.repo, tc.role, data)
			if err == nil {
				t.Fatalf("accepted: %+v", res)
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %q does not match %v", err, tc.kind)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not a *tuf.Error", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name %q", err, tc.field)
			}
			t.Log(err)
			if after := f.st.Fingerprint(f.repo); after != before {
				t.Fatalf("state changed:\n%s\n%s", before, after)
			}
		})
	}
}

func TestUploadRejects(t *testing.T) {
	f := newNegFixture(t)
	targets := func(edit func(md *metadata.Metadata[metadata.TargetsType]), by ...testKey) func() []byte {
		return func() []byte { return mustSign(t, f.nextTargets(metadata.TARGETS, edit), by...) }
	}
	releases := func(edit func(md *metadata.Metadata[metadata.TargetsType]), by ...testKey) func() []byte {
		return func() []byte { return mustSign(t, f.nextTargets("releases", edit), by...) }
	}
	ok := func(md *metadata.Metadata[metadata.TargetsType]) { addTarget(t, "rel/b.bin", []byte("b"))(md) }
	withDeleg := func(edit func(d *metadata.Delegations)) func(md *metadata.Metadata[metadata.TargetsType]) {
		return func(md *metadata.Metadata[metadata.TargetsType]) {
			d := f.delegations()
			edit(d)
			md.Signed.Delegations = d
		}
	}
	stranger := newTestKey(t, 0)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384Key, _ := metadata.KeyFromPublicKey(&p384.PublicKey)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaKey, _ := metadata.KeyFromPublicKey(&rsa1024.PublicKey)
	addKey := func(k *metadata.Key) func(d *metadata.Delegations) {
		return func(d *metadata.Delegations) {
			id, _ := k.ID()
			d.Keys[id] = k
			d.Roles[1].KeyIDs = append(d.Roles[1].KeyIDs, id)
		}
	}
	dsa := &metadata.Key{Type: "dsa", Scheme: "dsa-sha1", Value: metadata.KeyVal{PublicKey: "abcd"}}
	edHexAsPEM := &metadata.Key{Type: "ed25519", Scheme: "ed25519", Value: metadata.KeyVal{PublicKey: "not hex"}}
	sameKeyOtherID := &metadata.Key{Type: f.rel.key.Type, Scheme: f.rel.key.Scheme, Value: f.rel.key.Value,
		UnrecognizedFields: map[string]any{"x-comment": "same key"}}

	cases := []rejectCase{
		// Signatures.
		{"bad signature", "releases", func() []byte {
			return rawEdit(t, releases(ok, f.rel)(), func(doc map[string]any) {
				sig := doc["signatures"].([]any)[0].(map[string]any)
				s := []byte(sig["sig"].(string))
				if s[0] == '0' {
					s[0] = '1'
				} else {
					s[0] = '0'
				}
				sig["sig"] = string(s)
			})
		}, ErrBadSignature, "signatures[0].sig"},
		{"content changed after signing", "releases", func() []byte {
			return rawEdit(t, releases(ok, f.rel)(), func(doc map[string]any) {
				tg := signedOf(doc)["targets"].(map[string]any)["rel/b.bin"].(map[string]any)
				tg["length"] = json.Number("999")
			})
		}, ErrBadSignature, "signatures[0].sig"},
		{"signed by a key of another role", "releases", releases(ok, f.targets[0]), ErrBadSignature, "signatures[0].keyid"},
		{"signed by a stranger", metadata.TARGETS, targets(nil, stranger), ErrBadSignature, "signatures[0].keyid"},
		{"no signatures", "releases", releases(ok), ErrThreshold, "signatures"},
		// Versions.
		{"version rollback", "releases", func() []byte {
			md := f.nextTargets("releases", ok)
			md.Signed.Version = 1
			return mustSign(t, md, f.rel)
		}, ErrVersion, "signed.version"},
		{"version skip", metadata.TARGETS, func() []byte {
			md := f.nextTargets(metadata.TARGETS, nil)
			md.Signed.Version += 2
			return mustSign(t, md, f.targets...)
		}, ErrVersion, "signed.version"},
		{"new role not at version 1", "early", func() []byte {
			md := metadata.Targets(f.clock.Now().Add(time.Hour))
			md.Signed.Version = 2
			return mustSign(t, md, f.early)
		}, ErrVersion, "signed.version"},
		// Expiry.
		{"expired", "releases", func() []byte {
			md := f.nextTargets("releases", ok)
			md.Signed.Expires = f.clock.Now().Add(-time.Second)
			return mustSign(t, md, f.rel)
		}, ErrExpired, "signed.expires"},
		{"expires now", "releases", func() []byte {
			md := f.nextTargets("releases", ok)
			md.Signed.Expires = f.clock.Now()
			return mustSign(t, md, f.rel)
		}, ErrExpired, "signed.expires"},
		// Delegated paths.
		{"target outside delegated paths", "releases", releases(addTarget(t, "other/x.bin", []byte("x")), f.rel), ErrPathNotDelegated, `signed.targets["other/x.bin"]`},
		{"target deeper than the patterns", "releases", releases(addTarget(t, "rel/a/b/c.bin", []byte("x")), f.rel), ErrPathNotDelegated, `signed.targets["rel/a/b/c.bin"]`},
		{"target claimed by an earlier terminating delegation", "releases", releases(addTarget(t, "rel/locked/x.bin", []byte("x")), f.rel), ErrPathNotDelegated, "terminating"},
		// Roles.
		{"unknown role", "nobody", releases(ok, f.rel), ErrUnknownRole, `"nobody"`},
		{"snapshot is online", metadata.SNAPSHOT, releases(ok, f.rel), ErrUnknownRole, "online keys"},
		{"timestamp is online", metadata.TIMESTAMP, releases(ok, f.rel), ErrUnknownRole, "online keys"},
		{"bad role name", "../etc", releases(ok, f.rel), ErrUnknownRole, "role"},
		// Duplicate key ids.
		{"duplicate signatures", "releases", func() []byte {
			md := f.nextTargets("releases", ok)
			return mustSign(t, md, f.rel, f.rel)
		}, ErrDuplicateKeyID, "signatures[1].keyid"},
		{"key id listed twice in a delegation", metadata.TARGETS, targets(withDeleg(func(d *metadata.Delegations) {
			d.Roles[1].KeyIDs = []string{f.rel.id, f.rel.id}
			d.Roles[1].Threshold = 2
		}), f.targets...), ErrDuplicateKeyID, "signed.delegations.roles[1].keyids[1]"},
		{"two key ids for one public key", metadata.TARGETS, targets(withDeleg(addKey(sameKeyOtherID)), f.targets...), ErrDuplicateKeyID, "signed.delegations.keys"},
		// Key types.
		{"dsa key", metadata.TARGETS, targets(withDeleg(addKey(dsa)), f.targets...), ErrWrongKeyType, `keytype "dsa"`},
		{"ecdsa P-384 key", metadata.TARGETS, targets(withDeleg(addKey(p384Key)), f.targets...), ErrWrongKeyType, "P-384"},
		{"rsa 1024 key", metadata.TARGETS, targets(withDeleg(addKey(rsaKey)), f.targets...), ErrWrongKeyType, "1024 bits"},
		{"ed25519 key that is not hex", metadata.TARGETS, targets(withDeleg(addKey(edHexAsPEM)), f.targets...), ErrWrongKeyType, "keyval.public"},
		// Malformed.
		{"not JSON", "releases", func() []byte { return []byte("{") }, ErrMalformed, "(document)"},
		{"empty", "releases", func() []byte { return nil }, ErrMalformed, "(document)"},
		{"array", "releases", func() []byte { return []byte("[]") }, ErrMalformed, "(document)"},
		{"trailing data", "releases", func() []byte { return append(releases(ok, f.rel)(), " {}"...) }, ErrMalformed, "trailing data"},
		{"duplicate object key", "releases", func() []byte {
			return bytes.Replace(releases(ok, f.rel)(), []byte(`"signed":{`), []byte(`"signed":{"_type":"targets",`), 1)
		}, ErrMalformed, "duplicate object key"},
		{"unknown top-level field", "releases", func() []byte {
			return rawEdit(t, releases(ok, f.rel)(), func(doc map[string]any) { doc["extra"] = true })
		}, ErrMalformed, "(document)"},
		{"missing signed", "releases", func() []byte { return []byte(`{"signatures":[]}`) }, ErrMalformed, "signed"},
		{"missing signatures", "releases", func() []byte {
			return rawEdit(t, releases(ok, f.rel)(), func(doc map[string]any) { delete(doc, "signatures") })
		}, ErrMalformed, "signatures"},
		{"root uploaded as targets", "releases", func() []byte { return f.rootV1 }, ErrMalformed, "signed._type"},
		{"spec version 2", "releases", func() []byte {
			return rawEdit(t, releases(ok, f.rel)(), func(doc map[string]any) { signedOf(doc)["spec_version"] = "2.0.0" })
		}, ErrMalformed, "signed.spec_version"},
		{"version is a string", "releases", func() []byte {
			return rawEdit(t, releases(ok, f.rel)(), func(doc map[string]any) { signedOf(doc)["version"] = "2" })
		}, ErrMalformed, "signed"},
		{"expires with an offset", "releases", func() []byte {
			return rawEdit(t, releases(ok, f.rel)(), func(doc map[string]any) { signedOf(doc)["expires"] = "2099-01-01T00:00:00+01:00" })
		}, ErrMalformed, "signed.expires"},
		{"float in custom", "releases", func() []byte {
			return rawEdit(t, releases(ok, f.rel)(), func(doc map[string]any) {
				signedOf(doc)["targets"].(map[string]any)["rel/b.bin"].(map[string]any)["custom"] = map[string]any{"x": json.Number("1.5")}
			})
		}, ErrMalformed, "canonical"},
		{"keyid not hex", "releases", func() []byte {
			return rawEdit(t, releases(ok, f.rel)(), func(doc map[string]any) {
				doc["signatures"].([]any)[0].(map[string]any)["keyid"] = "zz"
			})
		}, ErrMalformed, "signatures[0].keyid"},
		{"sig not hex", "releases", func() []byte {
			return rawEdit(t, releases(ok, f.rel)(), func(doc map[string]any) {
				doc["signatures"].([]any)[0].(map[string]any)["sig"] = "xyz"
			})
		}, ErrMalformed, "signatures[0].sig"},
		{"too deep", "releases", func() []byte {
			return []byte(`{"signed":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `,"signatures":[]}`)
		}, ErrTooLarge, "nested deeper"},
		{"too large", "releases", func() []byte { return bytes.Repeat([]byte(" "), DefaultMaxUploadBytes+1) }, ErrTooLarge, "limit"},
		{"missing sha256", "releases", releases(func(md *metadata.Metadata[metadata.TargetsType]) {
			ok(md)
			delete(md.Signed.Targets["rel/b.bin"].Hashes, "sha256")
		}, f.rel), ErrMalformed, `signed.targets["rel/b.bin"].hashes`},
		{"unsupported hash", "releases", releases(func(md *metadata.Metadata[metadata.TargetsType]) {
			ok(md)
			md.Signed.Targets["rel/b.bin"].Hashes["md5"] = make([]byte, 16)
		}, f.rel), ErrMalformed, `hashes.md5`},
		{"short hash", "releases", releases(func(md *metadata.Metadata[metadata.TargetsType]) {
			ok(md)
			md.Signed.Targets["rel/b.bin"].Hashes["sha256"] = make([]byte, 31)
		}, f.rel), ErrMalformed, `hashes.sha256`},
		{"negative length", "releases", releases(func(md *metadata.Metadata[metadata.TargetsType]) {
			ok(md)
			md.Signed.Targets["rel/b.bin"].Length = -1
		}, f.rel), ErrMalformed, `.length`},
		{"dot-dot target path", "releases", releases(addTarget(t, "rel/../etc", []byte("x")), f.rel), ErrMalformed, `signed.targets["rel/../etc"]`},
		{"absolute target path", metadata.TARGETS, targets(addTarget(t, "/etc/passwd", []byte("x")), f.targets...), ErrMalformed, `signed.targets["/etc/passwd"]`},
		{"key id does not match key", metadata.TARGETS, targets(withDeleg(func(d *metadata.Delegations) {
			wrong := strings.Repeat("ab", 32)
			d.Keys[wrong] = d.Keys[f.rel.id]
			delete(d.Keys, f.rel.id)
			d.Roles[1].KeyIDs = []string{wrong}
		}), f.targets...), ErrMalformed, "key id does not match"},
		{"delegation threshold above its keys", metadata.TARGETS, targets(withDeleg(func(d *metadata.Delegations) { d.Roles[1].Threshold = 2 }), f.targets...), ErrMalformed, "signed.delegations.roles[1].threshold"},
		{"delegation threshold zero", metadata.TARGETS, targets(withDeleg(func(d *metadata.Delegations) { d.Roles[1].Threshold = 0 }), f.targets...), ErrMalformed, "signed.delegations.roles[1].threshold"},
		{"delegation to an unknown key id", metadata.TARGETS, targets(withDeleg(func(d *metadata.Delegations) { d.Roles[1].KeyIDs = []string{stranger.id} }), f.targets...), ErrMalformed, "signed.delegations.roles[1].keyids[0]"},
		{"delegation with no paths", metadata.TARGETS, targets(withDeleg(func(d *metadata.Delegations) { d.Roles[1].Paths = nil }), f.targets...), ErrMalformed, "signed.delegations.roles[1].paths"},
		{"delegated role named targets", metadata.TARGETS, targets(withDeleg(func(d *metadata.Delegations) { d.Roles[1].Name = "targets" }), f.targets...), ErrMalformed, "signed.delegations.roles[1].name"},
		{"role delegated twice", metadata.TARGETS, targets(withDeleg(func(d *metadata.Delegations) { d.Roles[0].Name = "releases" }), f.targets...), ErrMalformed, "signed.delegations.roles[1].name"},
		{"too many bins", metadata.TARGETS, targets(func(md *metadata.Metadata[metadata.TargetsType]) {
			d, _ := HashedBins("bins", 4, keySet(1, f.rel))
			d.SuccinctRoles.BitLength = 20
			md.Signed.Delegations = d
		}, f.targets...), ErrMalformed, "bit_length"},
	}
	runRejects(t, f.fixture, cases)

	// The fixture still accepts a valid upload afterwards.
	res := f.publishTargets("releases", ok, f.rel)
	if rolesOf(res.Published) != "releases,snapshot,timestamp" {
		t.Fatalf("published %s", rolesOf(res.Published))
	}
}

func TestInitRejects(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	other := newTestKey(t, 0)
	root := func(edit func(md *metadata.Metadata[metadata.RootType]), by ...testKey) []byte {
		md := f.buildRoot(1, f.root, 1, f.targets, 1, f.online)
		if edit != nil {
			edit(md)
		}
		return mustSign(t, md, by...)
	}
	stranger := NewOnlineKeys()
	for _, r := range []string{metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if _, err := stranger.Add(r, newTestKey(t, 0).signer); err != nil {
			t.Fatal(err)
		}
	}
	onlineTS := Keys(f.online.Keys(metadata.TIMESTAMP)).Keys[0]
	tsID, _ := onlineTS.ID()
	cases := []struct {
		name  string
		repo  string
		data  []byte
		kind  error
		field string
	}{
		{"not self-signed", "", root(nil, other), ErrBadSignature, "signatures[0].keyid"},
		{"no signatures", "", root(nil), ErrThreshold, "signatures"},
		{"under threshold", "", root(func(md *metadata.Metadata[metadata.RootType]) {
			_ = md.Signed.AddKey(other.key, metadata.ROOT)
			md.Signed.Roles[metadata.ROOT].Threshold = 2
		}, f.root...), ErrThreshold, "signatures"},
		{"online keys not trustd's", "", func() []byte {
			md := f.buildRoot(1, f.root, 1, f.targets, 1, stranger)
			return mustSign(t, md, f.root...)
		}(), ErrOnlineKey, "signed.roles.snapshot.keyids[0]"},
		{"root key held online", "", root(func(md *metadata.Metadata[metadata.RootType]) {
			_ = md.Signed.AddKey(onlineTS, metadata.ROOT)
		}, f.root...), ErrOnlineKey, "signed.roles.root.keyids[1]"},
		{"online key shared with targets", "", root(func(md *metadata.Metadata[metadata.RootType]) {
			md.Signed.Roles[metadata.TIMESTAMP].KeyIDs = []string{f.targets[0].id}
		}, f.root...), ErrOnlineKey, "signed.roles.timestamp.keyids[0]"},
		{"no consistent snapshots", "", root(func(md *metadata.Metadata[metadata.RootType]) { md.Signed.ConsistentSnapshot = false }, f.root...), ErrMalformed, "signed.consistent_snapshot"},
		{"version 2", "", root(func(md *metadata.Metadata[metadata.RootType]) { md.Signed.Version = 2 }, f.root...), ErrVersion, "signed.version"},
		{"expired", "", root(func(md *metadata.Metadata[metadata.RootType]) { md.Signed.Expires = f.clock.Now().Add(-time.Hour) }, f.root...), ErrExpired, "signed.expires"},
		{"unknown role", "", root(func(md *metadata.Metadata[metadata.RootType]) {
			md.Signed.Roles["mirrors"] = &metadata.Role{KeyIDs: []string{f.root[0].id}, Threshold: 1}
		}, f.root...), ErrUnknownRole, `signed.roles["mirrors"]`},
		{"missing role", "", root(func(md *metadata.Metadata[metadata.RootType]) { delete(md.Signed.Roles, metadata.TARGETS) }, f.root...), ErrMalformed, "signed.roles.targets"},
		{"duplicate key id", "", root(func(md *metadata.Metadata[metadata.RootType]) {
			md.Signed.Roles[metadata.TARGETS].KeyIDs = []string{f.targets[0].id, f.targets[0].id}
		}, f.root...), ErrDuplicateKeyID, "signed.roles.targets.keyids[1]"},
		{"timestamp key listed for snapshot", "", root(func(md *metadata.Metadata[metadata.RootType]) {
			md.Signed.Roles[metadata.SNAPSHOT].KeyIDs = []string{tsID}
		}, f.root...), ErrOnlineKey, "signed.roles.snapshot.keyids[0]"},
		{"wrong key type", "", root(func(md *metadata.Metadata[metadata.RootType]) {
			k := &metadata.Key{Type: "ed25519", Scheme: "ecdsa-sha2-nistp256", Value: f.targets[0].key.Value}
			_ = md.Signed.AddKey(k, metadata.TARGETS)
		}, f.root...), ErrWrongKeyType, "ecdsa-sha2-nistp256"},
		{"targets uploaded as root", "", mustSign(t, metadata.Targets(f.clock.Now().Add(time.Hour)), f.root...), ErrMalformed, "signed._type"},
		{"repository exists", f.repo, f.rootV1, ErrRepoExists, "root v1"},
		{"bad repository name", "Acme/../x", f.rootV1, ErrMalformed, "repo"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := tc.repo
			if repo == "" {
				repo = "acme/init-" + string(rune('a'+i))
			}
			before := f.st.Fingerprint(repo)
			_, err := f.svc.Init(f.ctx, repo, tc.data)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("Init: %v, want %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name %q", err, tc.field)
			}
			if after := f.st.Fingerprint(repo); after != before {
				t.Fatalf("state changed: %s → %s", before, after)
			}
		})
	}
}

func TestRootRotationRejects(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.publishTargets(metadata.TARGETS, addTarget(t, "a.bin", []byte("a")), f.targets...)
	next := newTestKey(t, 0)
	stranger := newTestKey(t, 0)
	root := func(version int64, targetsKeys []testKey, edit func(md *metadata.Metadata[metadata.RootType]), by ...testKey) func() []byte {
		return func() []byte {
			md := f.buildRoot(version, []testKey{next}, 1, targetsKeys, 1, f.online)
			if edit != nil {
				edit(md)
			}
			return mustSign(t, md, by...)
		}
	}
	runRejects(t, f, []rejectCase{
		{"version skip", metadata.ROOT, root(3, f.targets, nil, f.root[0], next), ErrVersion, "signed.version"},
		{"version replay", metadata.ROOT, func() []byte { return f.rootV1 }, ErrVersion, "signed.version"},
		{"signed by a stranger", metadata.ROOT, root(2, f.targets, nil, f.root[0], stranger), ErrBadSignature, "signatures[1].keyid"},
		{"expired", metadata.ROOT, root(2, f.targets, func(md *metadata.Metadata[metadata.RootType]) {
			md.Signed.Expires = f.clock.Now().Add(-time.Minute)
		}, f.root[0], next), ErrExpired, "signed.expires"},
	})

	// Signed only by its own new key: no key of the current root vouches
	// for it, so it is refused rather than kept pending.
	before := f.st.Fingerprint(f.repo)
	if _, err := f.svc.Upload(f.ctx, f.repo, metadata.ROOT, root(2, f.targets, nil, next)()); !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("root v2 signed only by its own key = %v, want ErrNotAuthorized", err)
	}
	if f.st.Fingerprint(f.repo) != before {
		t.Fatal("the refused proposal was stored")
	}
	// Signed by the current root key too: pending on its own threshold.
	res, err := f.svc.Upload(f.ctx, f.repo, metadata.ROOT, root(2, f.targets, func(md *metadata.Metadata[metadata.RootType]) {
		md.Signed.Keys[f.root[0].id] = f.root[0].key
		md.Signed.Roles[metadata.ROOT].KeyIDs = append(md.Signed.Roles[metadata.ROOT].KeyIDs, f.root[0].id)
		md.Signed.Roles[metadata.ROOT].Threshold = 2
	}, f.root[0])())
	if err != nil {
		t.Fatal(err)
	}
	if res.Pending == nil || len(res.Pending.Thresholds[0].Signed) != 1 || res.Pending.Thresholds[1].Missing[0] != next.id {
		t.Fatalf("pending = %+v", res.Pending)
	}
	if v := f.st.Latest(f.repo)[metadata.ROOT]; v != 1 {
		t.Fatalf("root published at v%d while pending", v)
	}
}
