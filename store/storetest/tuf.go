package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/trustd-dev/trustd/store"
)

// tufPublish publishes files of repo in one transaction.
func tufPublish(s store.Store, repo string, files ...store.TUFFile) error {
	return s.Update(context.Background(), func(ctx context.Context, w store.Writer) error {
		return w.PublishTUF(ctx, repo, files)
	})
}

func tufPut(s store.Store, repo string, p store.TUFPending, expect []byte) error {
	return s.Update(context.Background(), func(ctx context.Context, w store.Writer) error {
		return w.PutTUFPending(ctx, repo, p, expect)
	})
}

func testTUFMetadata(t *testing.T, s store.Store) {
	ctx := context.Background()
	root1 := []byte(`{"signed":{"_type":"root","version":1}}` + "\n ")
	if err := tufPublish(s, "acme/images", store.TUFFile{Role: "root", Version: 1, Data: root1}); err != nil {
		t.Fatal(err)
	}
	if err := tufPublish(s, "acme/images",
		store.TUFFile{Role: "targets", Version: 1, Data: []byte("t1")},
		store.TUFFile{Role: "timestamp", Version: 1, Data: []byte("ts1")}); err != nil {
		t.Fatal(err)
	}
	if err := tufPublish(s, "acme/images", store.TUFFile{Role: "targets", Version: 2, Data: []byte("t2")}); err != nil {
		t.Fatal(err)
	}
	// The same (repo, role, version) again is the publish compare-and-swap,
	// and the whole transaction rolls back.
	err := tufPublish(s, "acme/images",
		store.TUFFile{Role: "timestamp", Version: 2, Data: []byte("ts2")},
		store.TUFFile{Role: "targets", Version: 2, Data: []byte("other")})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate version: %v, want ErrConflict", err)
	}
	tests := []struct {
		name, repo, role string
		version          int64
		want             []byte
		err              error
	}{
		{"exact bytes back", "acme/images", "root", 1, root1, nil},
		{"latest", "acme/images", "targets", 0, []byte("t2"), nil},
		{"old version", "acme/images", "targets", 1, []byte("t1"), nil},
		{"rolled back", "acme/images", "timestamp", 2, nil, store.ErrNotFound},
		{"latest after rollback", "acme/images", "timestamp", 0, []byte("ts1"), nil},
		{"unknown role", "acme/images", "bins-00", 0, nil, store.ErrNotFound},
		{"unknown repo", "acme/other", "root", 0, nil, store.ErrNotFound},
		{"empty repo", "", "root", 1, nil, store.ErrInvalid},
	}
	for _, tc := range tests {
		got, err := s.TUFMetadata(ctx, tc.repo, tc.role, tc.version)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: TUFMetadata = %q, %v; want %v", tc.name, got, err, tc.err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: TUFMetadata = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if err := tufPublish(s, "acme/images", store.TUFFile{Role: "targets", Version: 3}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("publish without data: %v, want ErrInvalid", err)
	}
	if err := tufPublish(s, "acme/pkgs", store.TUFFile{Role: "root", Version: 1, Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	repos, err := s.TUFRepos(ctx)
	if err != nil || fmt.Sprint(repos) != "[acme/images acme/pkgs]" {
		t.Errorf("TUFRepos = %v, %v", repos, err)
	}
	// The digests of published versions, in one read; what is not
	// published is left out.
	ask := []store.TUFRef{{Repo: "acme/images", Role: "targets", Version: 2}, {Repo: "acme/images", Role: "root", Version: 1},
		{Repo: "acme/images", Role: "timestamp", Version: 2}, {Repo: "acme/other", Role: "root", Version: 1}, {Repo: "acme/images", Role: "root", Version: 1}}
	for i := range 300 { // more than one query's worth
		ask = append(ask, store.TUFRef{Repo: "acme/pkgs", Role: "root", Version: int64(100 + i)})
	}
	sums, err := s.TUFMetadataDigests(ctx, ask)
	want := map[store.TUFRef]string{{Repo: "acme/images", Role: "targets", Version: 2}: sha256Of("t2").Hex(), {Repo: "acme/images", Role: "root", Version: 1}: sha256Of(string(root1)).Hex()}
	if err != nil || fmt.Sprint(sums) != fmt.Sprint(want) {
		t.Errorf("TUFMetadataDigests = %v, %v; want %v", sums, err, want)
	}
}

func testTUFPending(t *testing.T, s store.Store) {
	ctx := context.Background()
	const repo = "acme/images"
	p := store.TUFPending{Role: "targets", Version: 3, Digest: "d1", Data: []byte("one signature")}
	if err := tufPut(s, repo, p, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		digest string
		data   []byte
		expect []byte
		err    error
	}{
		{"insert over existing", "d1", []byte("x"), nil, store.ErrConflict},
		{"stale expect", "d1", []byte("x"), []byte("something else"), store.ErrConflict},
		{"no digest", "", []byte("x"), nil, store.ErrInvalid},
		{"replace under another digest", "d2", []byte("x"), []byte("one signature"), store.ErrConflict},
		{"replace", "d1", []byte("two signatures"), []byte("one signature"), nil},
		{"replace with the old expect", "d1", []byte("y"), []byte("one signature"), store.ErrConflict},
		{"another proposal beside it", "d2", []byte("other proposal"), nil, nil},
	}
	for _, tc := range tests {
		err := tufPut(s, repo, store.TUFPending{Role: "targets", Version: 3, Digest: tc.digest, Data: tc.data}, tc.expect)
		if (tc.err == nil && err != nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
			t.Errorf("%s: PutTUFPending = %v, want %v", tc.name, err, tc.err)
		}
	}
	if err := tufPut(s, repo, store.TUFPending{Role: "root", Version: 2, Digest: "r", Data: []byte("r2")}, []byte("none")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("replace of an absent proposal: %v, want ErrConflict", err)
	}
	if err := tufPut(s, repo, store.TUFPending{Role: "root", Version: 2, Digest: "r", Data: []byte("r2")}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.TUFPending(ctx, repo)
	if err != nil || len(got) != 3 || got[0].Role != "root" || string(got[0].Data) != "r2" || got[0].Digest != "r" ||
		got[1].Role != "targets" || got[1].Version != 3 || got[1].Digest != "d1" || string(got[1].Data) != "two signatures" ||
		got[2].Digest != "d2" || string(got[2].Data) != "other proposal" {
		t.Fatalf("TUFPending = %+v, %v", got, err)
	}
	err = s.Update(ctx, func(ctx context.Context, w store.Writer) error {
		if err := w.DropTUFPending(ctx, repo, "targets", 3); err != nil { // both digests
			return err
		}
		return w.DropTUFPending(ctx, repo, "targets", 99) // absent: ignored
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.TUFPending(ctx, repo); err != nil || len(got) != 1 || got[0].Role != "root" {
		t.Errorf("after drop: %+v, %v", got, err)
	}
	if got, err := s.TUFPending(ctx, "acme/none"); err != nil || len(got) != 0 {
		t.Errorf("pending of an unknown repo: %+v, %v", got, err)
	}
}

// testTUFConcurrentPublish checks that of concurrent publishes of one
// version exactly one wins.
func testTUFConcurrentPublish(t *testing.T, s store.Store) {
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := tufPublish(s, "acme/race", store.TUFFile{Role: "timestamp", Version: 1, Data: []byte(fmt.Sprint("ts by ", i))})
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrUnavailable):
				t.Errorf("publish %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent publishes of one version won, want 1", wins)
	}
}
