package feedback_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
)

// t0 is the fixed clock of the tests.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	store store.Store
	log   *statement.Log
	svc   *feedback.Service
}

// newFixture wires a feedback service on s into a statement log, with the
// validators of other packages the test submits to as well.
func newFixture(t testing.TB, s store.Store, opts feedback.Options, validators ...map[string]statement.Validator) *fixture {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	svc := feedback.New(s, opts)
	skey, vkey, err := tlog.GenerateLogKey("feedback-test")
	if err != nil {
		t.Fatal(err)
	}
	all := svc.Validators()
	for _, v := range validators {
		maps.Copy(all, v)
	}
	indexers := svc.Indexers()
	// An identity verifier keeps its binding index on the same log.
	if ix, ok := opts.Identities.(interface {
		Indexers() map[string]statement.Indexer
	}); ok {
		maps.Copy(indexers, ix.Indexers())
	}
	l, err := statement.New(s, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: all, Indexers: indexers, BatchIndexers: svc.BatchIndexers(), ReadAheads: svc.ReadAheads()})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: s, log: l, svc: svc}
}

// identity is a registered key that signs feedback.
type identity struct {
	envelope.Signer
	id  string
	key store.Key
}

func (f *fixture) identity(t testing.TB) identity {
	t.Helper()
	priv, _, err := envelope.GenerateKey(envelope.KeyTypeED25519)
	if err != nil {
		t.Fatal(err)
	}
	sg, pub, err := envelope.LoadPrivateKey(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := keys.NewRegistry(f.store).Add(context.Background(), pub.Encode(), "")
	if err != nil {
		t.Fatal(err)
	}
	return identity{Signer: sg, id: k.ID, key: k.Key}
}

func artifact(name string) envelope.Subject {
	a := sha256.Sum256([]byte(name))
	b := sha512.Sum512([]byte(name))
	return envelope.Subject{Name: name, Digests: []digest.Digest{must(digest.New(digest.SHA256, a[:])), must(digest.New(digest.SHA512, b[:]))}}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func signEnv(t testing.TB, payload []byte, signers ...envelope.Signer) []byte {
	t.Helper()
	env, err := envelope.Sign(context.Background(), envelope.PayloadTypeInToto, payload, signers...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func voteEnv(t testing.TB, who identity, subj envelope.Subject, value string, at time.Time) []byte {
	t.Helper()
	axis := feedback.AxisQuality
	if value == feedback.Trust || value == feedback.Distrust {
		axis = feedback.AxisTrust
	}
	payload, err := feedback.VoteStatement(subj, feedback.VotePredicate{Axis: axis, Value: value, Timestamp: at})
	if err != nil {
		t.Fatal(err)
	}
	return signEnv(t, payload, who)
}

func retractEnv(t testing.TB, who identity, subj envelope.Subject, axis string, at time.Time) []byte {
	t.Helper()
	payload, err := feedback.VoteStatement(subj, feedback.VotePredicate{Axis: axis, Value: feedback.Retract, Timestamp: at})
	if err != nil {
		t.Fatal(err)
	}
	return signEnv(t, payload, who)
}

func (f *fixture) submit(t testing.TB, raw []byte) store.Statement {
	t.Helper()
	st, _, err := f.log.Submit(context.Background(), raw)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return st
}

func (f *fixture) trust(t testing.TB, from, to identity, level string, at time.Time) {
	t.Helper()
	payload, err := feedback.TrustStatement(to.key, feedback.TrustPredicate{Level: level, Timestamp: at})
	if err != nil {
		t.Fatal(err)
	}
	f.submit(t, signEnv(t, payload, from))
}

func (f *fixture) reputation(t testing.TB, q feedback.Query) feedback.Reputation {
	t.Helper()
	rep, err := f.svc.Reputation(context.Background(), q)
	if err != nil {
		t.Fatalf("reputation: %v", err)
	}
	return rep
}

// recount computes the totals of d from its vote rows.
func recount(t testing.TB, s store.Reader, d digest.Digest) store.VoteTotals {
	t.Helper()
	vs, err := s.Votes(context.Background(), []digest.Digest{d}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tot store.VoteTotals
	voters := map[string]bool{}
	for _, v := range vs {
		switch {
		case v.Value == 0:
			continue
		case v.Axis == feedback.AxisQuality && v.Value > 0:
			tot.Likes++
		case v.Axis == feedback.AxisQuality:
			tot.Dislikes++
		case v.Value > 0:
			tot.Trusts++
		default:
			tot.Distrusts++
		}
		voters[v.VoterKeyID] = true
	}
	tot.Voters = int64(len(voters))
	return tot
}

func counts(t store.VoteTotals) store.VoteTotals {
	t.LastVoteAt = time.Time{}
	return t
}

// tufRepo is a TUF repository trustd serves from the fixture's store,
// created by whoever holds its offline keys (creation is open, as on
// loopback), whose targets uploads are logged as tufstore logs them.
type tufRepo struct {
	svc     *tuf.Service
	repo    *tuftest.Repo
	targets []byte // the current targets metadata
}

func (f *fixture) tufRepo(t testing.TB, name string) *tufRepo {
	t.Helper()
	state, err := tufstore.New(f.store, f.log)
	if err != nil {
		t.Fatal(err)
	}
	online := tuftest.OnlineKeys(t)
	svc, err := tuf.New(state, online, tuf.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := &tufRepo{svc: svc, repo: tuftest.NewRepo(t, name, online)}
	if _, err := svc.Init(context.Background(), name, r.repo.RootV1); err != nil {
		t.Fatalf("init %s: %v", name, err)
	}
	return r
}

// list publishes a new targets version adding target name with digests
// ds: its sha256 and optionally sha512. Nothing checks them against any
// bytes, so anybody may list any digests together.
func (r *tufRepo) list(t testing.TB, name string, ds ...digest.Digest) {
	t.Helper()
	tf, err := tuf.NewTargetFile(int64(len(name)), ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	md, err := tuf.AddTarget(r.targets, name, tf, time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := tuf.Sign(md, r.repo.Targets.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Upload(context.Background(), r.repo.Name, metadata.TARGETS, signed); err != nil {
		t.Fatalf("upload %s targets: %v", r.repo.Name, err)
	}
	r.targets = signed
}
