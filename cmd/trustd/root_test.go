package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/identity"
	"github.com/trustd-dev/trustd/location"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/tlog"
)

// TestRecordTypesHaveValidators checks the validators trustd serves with
// against the record-type table, as serve does at startup: every type
// callers submit (votes, trust, responses, identity bindings, OpenPGP
// delegations and rotations, revocations, and whatever is added to the
// table) has one, and no type trustd writes itself or does not list has
// one. A type added without its rule, or its rule without a validator,
// fails here.
func TestRecordTypesHaveValidators(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := &config{}
	rev := newRevocation(cfg, st)
	idv, err := identity.New(st, identity.Options{Revocations: rev})
	if err != nil {
		t.Fatal(err)
	}
	fb := feedback.New(st, feedback.Options{Revocations: rev, Identities: idv, Publishers: rev})
	validators, indexers := logHooks(cfg, st, rev, fb, idv, location.New(st, location.Options{Publishers: rev, Revocations: rev}))
	if err := statement.CheckValidators(validators); err != nil {
		t.Fatal(err)
	}
	for _, typ := range recordtype.Table {
		if typ.Has(recordtype.Submit) && validators[typ.PredicateType] == nil {
			t.Errorf("%s has no validator", typ.PredicateType)
		}
	}
	skey, vkey, err := tlog.GenerateLogKey("test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: validators, Indexers: indexers}); err != nil {
		t.Errorf("statement.New with trustd's validators and indexers: %v", err)
	}
}
