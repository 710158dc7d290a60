package tuf

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TestCreationPolicy: who may create which repository, judged by the key
// ids among root v1's verified signers, for every kind of policy.
func TestCreationPolicy(t *testing.T) {
	op, own, own2, other := strings.Repeat("a1", 32), strings.Repeat("b2", 32), strings.Repeat("b3", 32), strings.Repeat("c4", 32)
	owners := []Owner{{Pattern: "acme/*", KeyIDs: []string{own}}, {Pattern: "acme/secret/*", KeyIDs: []string{own2}}, {Pattern: "solo/app", KeyIDs: []string{own2}}}
	open := CreationPolicy{}
	openOwned := CreationPolicy{Owners: owners}
	operators := CreationPolicy{Closed: true, Operators: []string{op}}
	closed := CreationPolicy{Closed: true}
	full := CreationPolicy{Closed: true, Operators: []string{op}, Owners: owners}
	tests := []struct {
		name    string
		policy  CreationPolicy
		repo    string
		signers []string
		allowed bool
		reason  string // part of the refusal
	}{
		{"open: anyone", open, "acme/images", []string{other}, true, ""},
		{"open: trustd/ is reserved", open, "trustd/keys", []string{other}, false, "reserved"},
		{"open: trustd itself is reserved", open, "trustd", []string{other}, false, "reserved"},
		{"open: trustd/ reserved even for an operator", full, "trustd/other", []string{op}, false, "reserved"},
		{"open: a name like trustd is not reserved", open, "trustdx/keys", []string{other}, true, ""},
		{"open with owners: unowned name", openOwned, "beta/x", []string{other}, true, ""},
		{"open with owners: owned prefix, stranger", openOwned, "acme/images", []string{other}, false, "acme/*"},
		{"open with owners: owned prefix, owner", openOwned, "acme/images", []string{other, own}, true, ""},
		{"open with owners: deeper owner wins", openOwned, "acme/secret/x", []string{own}, false, "acme/secret/*"},
		{"open with owners: deeper owner signs", openOwned, "acme/secret/x", []string{own2}, true, ""},
		{"open with owners: exact name", openOwned, "solo/app", []string{own}, false, "solo/app"},
		{"open with owners: exact name, its owner", openOwned, "solo/app", []string{own2}, true, ""},
		{"open with owners: exact name does not cover below", openOwned, "solo/app/x", []string{other}, true, ""},
		{"open with owners: the bare prefix is not under it", openOwned, "acme", []string{other}, true, ""},
		{"operators: operator", operators, "beta/x", []string{op}, true, ""},
		{"operators: stranger", operators, "beta/x", []string{other}, false, "operator"},
		{"closed: nobody", closed, "beta/x", []string{op, other}, false, "closed"},
		{"full: owner under its prefix", full, "acme/images", []string{own}, true, ""},
		{"full: owner outside its prefix", full, "beta/x", []string{own}, false, "operator"},
		{"full: operator anywhere", full, "acme/secret/x", []string{op}, true, ""},
		{"full: no signers", full, "acme/images", nil, false, "acme/*"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.policy.Validate(); err != nil {
				t.Fatal(err)
			}
			err := tc.policy.Check(tc.repo, tc.signers)
			if tc.allowed {
				if err != nil {
					t.Fatalf("Check = %v, want allowed", err)
				}
				return
			}
			if !errors.Is(err, ErrNotAuthorized) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("Check = %v, want ErrNotAuthorized naming %q", err, tc.reason)
			}
		})
	}
}

func TestParseOwner(t *testing.T) {
	id1, id2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	tests := []struct {
		in      string
		want    Owner
		problem string
	}{
		{"acme/*=" + id1, Owner{Pattern: "acme/*", KeyIDs: []string{id1}}, ""},
		{" acme/team/* = " + id1 + " , " + strings.ToUpper(id2), Owner{Pattern: "acme/team/*", KeyIDs: []string{id1, id2}}, ""},
		{"acme/images=" + id2, Owner{Pattern: "acme/images", KeyIDs: []string{id2}}, ""},
		{"acme/*", Owner{}, "PATTERN=KEYID"},
		{"=" + id1, Owner{}, "pattern"},
		{"acme/*=", Owner{}, "key id"},
		{"acme/*=xyz", Owner{}, "64 hex"},
		{"*=" + id1, Owner{}, "pattern"},
		{"acme/*/x=" + id1, Owner{}, "pattern"},
		{"Acme/*=" + id1, Owner{}, "pattern"},
		{"trustd/*=" + id1, Owner{}, "reserved"},
		{"trustd=" + id1, Owner{}, "reserved"},
	}
	for _, tc := range tests {
		got, err := ParseOwner(tc.in)
		if tc.problem != "" {
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("ParseOwner(%q) = %+v, %v; want an error naming %q", tc.in, got, err, tc.problem)
			}
			continue
		}
		if err != nil || got.Pattern != tc.want.Pattern || strings.Join(got.KeyIDs, ",") != strings.Join(tc.want.KeyIDs, ",") {
			t.Errorf("ParseOwner(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if err := (CreationPolicy{Operators: []string{"nothex"}}).Validate(); err == nil || !strings.Contains(err.Error(), "operator") {
		t.Errorf("Validate with a bad operator key id = %v", err)
	}
}

// TestInitOwnership: Init enforces the creation policy on root v1's
// verified signers, refuses trustd's reserved names to every caller, and
// stores nothing when it refuses; InitReserved creates only reserved names.
func TestInitOwnership(t *testing.T) {
	ctx := context.Background()
	owner, operator, stranger := newTestKey(t, 0), newTestKey(t, 0), newTestKey(t, 0)
	online := NewOnlineKeys()
	for _, role := range []string{metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if _, err := online.Add(role, newTestKey(t, 0).signer); err != nil {
			t.Fatal(err)
		}
	}
	st := NewMemState()
	svc, err := New(st, online, Config{Creation: CreationPolicy{Closed: true, Operators: []string{operator.id},
		Owners: []Owner{{Pattern: "acme/*", KeyIDs: []string{owner.id}}}}})
	if err != nil {
		t.Fatal(err)
	}
	// rootBy is a root v1 whose root keys are keys, signed by all of them.
	rootBy := func(keys ...testKey) []byte {
		md, err := NewRoot(RootSpec{Version: 1, Expires: time.Now().Add(time.Hour),
			Root: keySet(1, keys...), Targets: keySet(1, stranger),
			Snapshot: Keys(online.Keys(metadata.SNAPSHOT)), Timestamp: Keys(online.Keys(metadata.TIMESTAMP))})
		if err != nil {
			t.Fatal(err)
		}
		return mustSign(t, md, keys...)
	}
	tests := []struct {
		repo string
		root []byte
		err  error
	}{
		{"trustd/keys", rootBy(stranger), ErrNotAuthorized},
		{"trustd/keys", rootBy(operator), ErrNotAuthorized},
		{"acme/images", rootBy(stranger), ErrNotAuthorized},
		{"beta/x", rootBy(owner), ErrNotAuthorized},
		{"beta/x", rootBy(stranger), ErrNotAuthorized},
		{"acme/images", rootBy(stranger, owner), nil},
		{"beta/x", rootBy(operator), nil},
	}
	for _, tc := range tests {
		_, err := svc.Init(ctx, tc.repo, tc.root)
		if (tc.err == nil) != (err == nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
			t.Errorf("Init %s = %v, want %v", tc.repo, err, tc.err)
		}
		if tc.err != nil && st.Fingerprint(tc.repo) != "<none>" {
			t.Errorf("refused Init %s stored something", tc.repo)
		}
	}
	// A root listing the owner key but not signed by it proves nothing.
	md, err := NewRoot(RootSpec{Version: 1, Expires: time.Now().Add(time.Hour),
		Root: keySet(1, stranger, owner), Targets: keySet(1, stranger),
		Snapshot: Keys(online.Keys(metadata.SNAPSHOT)), Timestamp: Keys(online.Keys(metadata.TIMESTAMP))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Init(ctx, "acme/pkgs", mustSign(t, md, stranger)); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("Init naming but not signed by the owner = %v, want ErrNotAuthorized", err)
	}

	if _, err := svc.InitReserved(ctx, "acme/other", rootBy(stranger)); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("InitReserved of a caller's name = %v, want ErrNotAuthorized", err)
	}
	if _, err := svc.InitReserved(ctx, "trustd/keys", rootBy(stranger)); err != nil {
		t.Fatalf("InitReserved trustd/keys: %v", err)
	}
	// Once it exists, a caller's Init is still refused for the name, not
	// told it exists.
	if _, err := svc.Init(ctx, "trustd/keys", rootBy(operator)); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("Init of an existing reserved name = %v, want ErrNotAuthorized", err)
	}
}
