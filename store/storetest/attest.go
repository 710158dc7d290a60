package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/trustd-dev/trustd/store"
)

// testAttestations: entries naming a digest are listed newest first by
// either digest of a subject, with their index where one was stored,
// filtered by predicate type and signer, and paged.
func testAttestations(t *testing.T, s store.Store) {
	ctx := context.Background()
	a256, a512 := sha256Of("attested"), sha512Of("attested")
	var seqs []int64
	for i := range 4 {
		st := statementOf(fmt.Sprintf("att-%d", i), artifact("app.tar", a256, a512))
		if i%2 == 1 {
			st.PredicateType = "https://slsa.dev/provenance/v1"
		}
		got, _ := appendOne(t, s, st)
		seqs = append(seqs, got.Seq)
		if i%2 == 1 {
			err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
				a := store.Attestation{Seq: got.Seq, BuilderID: "https://builder.example/" + fmt.Sprint(i),
					SourceRepository: "https://git.example/app", SourceRef: "refs/heads/main", VerificationResult: "PASSED"}
				if err := w.PutAttestation(ctx, a); err != nil {
					return err
				}
				return w.PutAttestation(ctx, a) // again: a no-op
			})
			if err != nil {
				t.Fatalf("PutAttestation: %v", err)
			}
		}
	}
	for _, d := range []struct{ name, alg string }{{"sha256", "sha256"}, {"sha512", "sha512"}} {
		dg := a256
		if d.alg == "sha512" {
			dg = a512
		}
		got, err := s.Attestations(ctx, store.AttestationQuery{Digest: dg, Limit: 10})
		if err != nil {
			t.Fatalf("Attestations(%s): %v", d.name, err)
		}
		if len(got) != 4 {
			t.Fatalf("Attestations(%s) = %d entries, want 4", d.name, len(got))
		}
		for i, e := range got {
			want := seqs[3-i]
			if e.Seq != want || e.Digest != dg || e.SubjectName != "app.tar" || len(e.SignerKeyIDs) != 1 || e.RecordedAt.IsZero() || e.EnvelopeDigest.IsZero() {
				t.Errorf("%s entry %d = %+v, want seq %d", d.name, i, e, want)
			}
			indexed := (3-i)%2 == 1
			if indexed != (e.Index != nil) {
				t.Errorf("%s entry %d index = %+v, want indexed %v", d.name, e.Seq, e.Index, indexed)
			}
			if e.Index != nil && (e.Index.Seq != e.Seq || e.Index.SourceRef != "refs/heads/main" || e.Index.VerificationResult != "PASSED") {
				t.Errorf("%s entry %d index = %+v", d.name, e.Seq, e.Index)
			}
		}
	}
	prov, err := s.Attestations(ctx, store.AttestationQuery{Digest: a256, PredicateType: "https://slsa.dev/provenance/v1", Limit: 10})
	if err != nil || len(prov) != 2 || prov[0].Seq != seqs[3] || prov[1].Seq != seqs[1] {
		t.Errorf("by predicate type = %+v, %v", prov, err)
	}
	bySigner, err := s.Attestations(ctx, store.AttestationQuery{Digest: a256, SignerKeyID: "key-att-2", Limit: 10})
	if err != nil || len(bySigner) != 1 || bySigner[0].Seq != seqs[2] {
		t.Errorf("by signer = %+v, %v", bySigner, err)
	}
	page, err := s.Attestations(ctx, store.AttestationQuery{Digest: a256, BeforeSeq: seqs[2], Limit: 1})
	if err != nil || len(page) != 1 || page[0].Seq != seqs[1] {
		t.Errorf("page before %d = %+v, %v", seqs[2], page, err)
	}
	if none, err := s.Attestations(ctx, store.AttestationQuery{Digest: sha256Of("never attested"), Limit: 10}); err != nil || len(none) != 0 {
		t.Errorf("unknown digest = %+v, %v", none, err)
	}

	a, err := s.Attestation(ctx, seqs[1])
	if err != nil || a.BuilderID != "https://builder.example/1" || a.SourceRepository != "https://git.example/app" {
		t.Errorf("Attestation(%d) = %+v, %v", seqs[1], a, err)
	}
	if _, err := s.Attestation(ctx, seqs[0]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Attestation of an opaque entry: %v, want ErrNotFound", err)
	}
}

// testAttestationInvalid: an index row for no log entry is rejected and
// nothing is stored.
func testAttestationInvalid(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, a := range []store.Attestation{{Seq: 0}, {Seq: 999999, BuilderID: "x"}} {
		err := s.Update(ctx, func(ctx context.Context, w store.Writer) error { return w.PutAttestation(ctx, a) })
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutAttestation(%+v) = %v, want ErrInvalid", a, err)
		}
	}
	if _, err := s.Attestation(ctx, 999999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Attestation after a rejected put: %v, want ErrNotFound", err)
	}
}

// testLayoutLinks: links are recorded per layout, idempotently, and
// listed by step.
func testLayoutLinks(t *testing.T, s store.Store) {
	ctx := context.Background()
	layout, _ := appendOne(t, s, statement("layout", sha256Of("layout")))
	build, _ := appendOne(t, s, statement("link-build", sha256Of("link-build")))
	pack, _ := appendOne(t, s, statement("link-package", sha256Of("link-package")))
	links := []store.LayoutLink{
		{LayoutSeq: layout.Seq, Step: "package", Seq: pack.Seq, KeyID: "bob"},
		{LayoutSeq: layout.Seq, Step: "build", Seq: build.Seq, KeyID: "alice"},
	}
	err := s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		for _, l := range append(links, links[0]) {
			if err := w.PutLayoutLink(ctx, l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("PutLayoutLink: %v", err)
	}
	got, err := s.LayoutLinks(ctx, layout.Seq, 10)
	if err != nil || fmt.Sprint(got) != fmt.Sprint([]store.LayoutLink{links[1], links[0]}) {
		t.Errorf("LayoutLinks = %+v, %v; want %+v", got, err, []store.LayoutLink{links[1], links[0]})
	}
	if got, err := s.LayoutLinks(ctx, layout.Seq, 1); err != nil || len(got) != 1 || got[0] != links[1] {
		t.Errorf("LayoutLinks limited to 1 = %+v, %v", got, err)
	}
	if got, err := s.LayoutLinks(ctx, build.Seq, 10); err != nil || len(got) != 0 {
		t.Errorf("links of a non-layout = %+v, %v", got, err)
	}
	for _, l := range []store.LayoutLink{{LayoutSeq: layout.Seq, Seq: build.Seq, KeyID: "k"}, {LayoutSeq: layout.Seq, Step: "s", Seq: 999999, KeyID: "k"}} {
		err := s.Update(ctx, func(ctx context.Context, w store.Writer) error { return w.PutLayoutLink(ctx, l) })
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutLayoutLink(%+v) = %v, want ErrInvalid", l, err)
		}
	}
}
