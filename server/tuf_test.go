package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gotuf "github.com/theupdateframework/go-tuf/v2/metadata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/internal/tuftest"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/tuf"
)

func tamper(t *testing.T, doc []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	sig := m["signatures"].([]any)[0].(map[string]any)
	s := []byte(sig["sig"].(string))
	if s[0] == 'a' {
		s[0] = 'b'
	} else {
		s[0] = 'a'
	}
	sig["sig"] = string(s)
	out, _ := json.Marshal(m)
	return out
}

func TestTUFErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := trustv1.NewTUFServiceClient(f.conn)
	r := tuftest.NewRepo(t, "acme/images", f.online)
	if _, err := c.InitRepo(ctx, &trustv1.InitRepoRequest{Repo: r.Name, Root: r.RootV1}); err != nil {
		t.Fatal(err)
	}
	v1 := r.SignTargets(t, nil, "app.tar.gz", []byte("app"))
	stranger := tuftest.NewKey(t)
	expired, err := tuf.AddTarget(nil, "old.bin", mustTarget(t), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expiredDoc, err := tuf.Sign(expired, r.Targets.Signer)
	if err != nil {
		t.Fatal(err)
	}
	upload := func(repo, role string, doc []byte) func() error {
		return func() error {
			_, err := c.UploadMetadata(ctx, &trustv1.UploadMetadataRequest{Repo: repo, Role: role, Metadata: doc})
			return err
		}
	}
	tests := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"init without repo", func() error { _, err := c.InitRepo(ctx, &trustv1.InitRepoRequest{Root: r.RootV1}); return err }, codes.InvalidArgument, "repo: is required"},
		{"init bad name", func() error {
			_, err := c.InitRepo(ctx, &trustv1.InitRepoRequest{Repo: "Acme Images", Root: r.RootV1})
			return err
		}, codes.InvalidArgument, "repo"},
		{"init malformed", func() error {
			_, err := c.InitRepo(ctx, &trustv1.InitRepoRequest{Repo: "acme/x", Root: []byte(`{"signed":`)})
			return err
		}, codes.InvalidArgument, "invalid JSON"},
		{"init again", func() error {
			_, err := c.InitRepo(ctx, &trustv1.InitRepoRequest{Repo: r.Name, Root: r.RootV1})
			return err
		}, codes.AlreadyExists, "already"},
		{"unknown repo", upload("acme/none", "targets", v1), codes.NotFound, "acme/none"},
		{"tampered signature", upload(r.Name, "targets", tamper(t, v1)), codes.PermissionDenied, "signatures[0]"},
		{"stranger's key", upload(r.Name, "targets", r.SignTargets(t, nil, "app.tar.gz", []byte("app"), stranger.Signer)), codes.PermissionDenied, "signatures[0]"},
		{"version skip", upload(r.Name, "targets", r.SignTargets(t, v1, "b", []byte("b"))), codes.FailedPrecondition, "signed.version"},
		{"expired", upload(r.Name, "targets", expiredDoc), codes.InvalidArgument, "signed.expires"},
		{"online role", upload(r.Name, "timestamp", v1), codes.FailedPrecondition, "online keys"},
		{"undelegated role", upload(r.Name, "releases", v1), codes.FailedPrecondition, "releases"},
		{"duplicate json key", upload(r.Name, "targets", []byte(`{"signed":{"_type":"targets","_type":"targets"},"signatures":[]}`)), codes.InvalidArgument, "duplicate"},
		{"missing file", func() error {
			_, err := c.GetMetadata(ctx, &trustv1.GetMetadataRequest{Repo: r.Name, Name: "2.root.json"})
			return err
		}, codes.NotFound, "2.root.json"},
		{"pending without version", func() error {
			_, err := c.GetMetadata(ctx, &trustv1.GetMetadataRequest{Repo: r.Name, Name: "targets.json", Pending: true})
			return err
		}, codes.InvalidArgument, "name"},
		{"no pending proposal", func() error {
			_, err := c.AddSignatures(ctx, &trustv1.AddSignaturesRequest{Repo: r.Name, Role: "targets", Version: 1,
				Signatures: []*trustv1.TUFSignature{{KeyId: r.Targets.ID, Sig: []byte{1}}}})
			return err
		}, codes.NotFound, "no pending"},
		{"version zero", func() error {
			_, err := c.AddSignatures(ctx, &trustv1.AddSignaturesRequest{Repo: r.Name, Role: "targets"})
			return err
		}, codes.InvalidArgument, "version"},
		{"init of trustd's own name", func() error {
			_, err := c.InitRepo(ctx, &trustv1.InitRepoRequest{Repo: "trustd/keys", Root: tuftest.NewRepo(t, "trustd/keys", f.online).RootV1})
			return err
		}, codes.PermissionDenied, "reserved"},
		{"root proposal no current root key signs", upload(r.Name, "root", strangerRoot(t, f, stranger)), codes.PermissionDenied, "root v1"},
		{"pending proposal by a malformed digest", func() error {
			_, err := c.GetMetadata(ctx, &trustv1.GetMetadataRequest{Repo: r.Name, Name: "1.targets.json", Pending: true, Proposal: "zz"})
			return err
		}, codes.InvalidArgument, "proposal"},
		{"status of unknown repo", func() error { _, err := c.GetStatus(ctx, &trustv1.GetStatusRequest{Repo: "acme/none"}); return err }, codes.NotFound, "acme/none"},
		{"log entry beyond the log", func() error {
			_, err := c.GetMetadata(ctx, &trustv1.GetMetadataRequest{LogSeq: 99})
			return err
		}, codes.NotFound, "99"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := status.Convert(tc.call())
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("= %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
		})
	}
	// Nothing rejected was stored or logged: only root v1 is in the log.
	if n, _ := f.store.LogSize(ctx); n != 1 {
		t.Errorf("log size %d after rejected uploads, want 1", n)
	}
	resp, err := c.UploadMetadata(ctx, &trustv1.UploadMetadataRequest{Repo: r.Name, Role: "targets", Metadata: v1})
	if err != nil || len(resp.GetResult().GetPublished()) != 3 || len(resp.GetResult().GetTargets()) != 1 {
		t.Fatalf("upload = %v, %v", resp, err)
	}
	// Log entry 2 is targets v1, described by repository, role and version.
	byLog, err := c.GetMetadata(ctx, &trustv1.GetMetadataRequest{LogSeq: 2})
	if err != nil || !bytes.Equal(byLog.GetData(), v1) || byLog.GetRepo() != r.Name || byLog.GetRole() != "targets" || byLog.GetVersion() != 1 || byLog.GetPending() {
		t.Errorf("GetMetadata(log_seq 2) = %v, %v; want targets v1 of %s", byLog, err, r.Name)
	}
	st := status.Convert(upload(r.Name, "targets", v1)())
	if st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "rollback or replay") {
		t.Errorf("replay = %v %q", st.Code(), st.Message())
	}
	keys, err := c.GetOnlineKeys(ctx, &trustv1.GetOnlineKeysRequest{})
	if err != nil || len(keys.GetSnapshot()) != 1 || len(keys.GetTimestamp()) != 1 {
		t.Fatalf("GetOnlineKeys = %v, %v", keys, err)
	}
	var k gotuf.Key
	if err := json.Unmarshal(keys.GetTimestamp()[0].GetKey(), &k); err != nil {
		t.Fatal(err)
	}
	if id, _ := k.ID(); id != keys.GetTimestamp()[0].GetKeyId() {
		t.Errorf("online key id %s, want %s", keys.GetTimestamp()[0].GetKeyId(), id)
	}
	sresp, err := c.GetStatus(ctx, &trustv1.GetStatusRequest{Repo: r.Name})
	if err != nil || sresp.GetTimestamp().GetVersion() != 1 || len(sresp.GetTargets()) != 1 {
		t.Errorf("GetStatus = %v, %v", sresp, err)
	}
}

func mustTarget(t *testing.T) *gotuf.TargetFiles {
	t.Helper()
	n, ds, err := tuf.HashTarget(context.Background(), strings.NewReader("old"))
	if err != nil {
		t.Fatal(err)
	}
	tf, err := tuf.NewTargetFile(n, ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tf
}

func TestTUFHTTP(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := trustv1.NewTUFServiceClient(f.conn)
	r := tuftest.NewRepo(t, "acme/images", f.online)
	if _, err := c.InitRepo(ctx, &trustv1.InitRepoRequest{Repo: r.Name, Root: r.RootV1}); err != nil {
		t.Fatal(err)
	}
	v1 := r.SignTargets(t, nil, "app.tar.gz", []byte("app"))
	if _, err := c.UploadMetadata(ctx, &trustv1.UploadMetadataRequest{Repo: r.Name, Role: "targets", Metadata: v1}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.srv.HTTPHandler())
	defer srv.Close()
	tests := []struct {
		path  string
		code  int
		body  []byte
		cache string
	}{
		{"/tuf/acme/images/1.root.json", http.StatusOK, r.RootV1, "immutable"},
		{"/tuf/acme/images/1.targets.json", http.StatusOK, v1, "immutable"},
		{"/tuf/acme/images/timestamp.json", http.StatusOK, nil, "no-cache"},
		{"/tuf/acme/images/1.snapshot.json", http.StatusOK, nil, "immutable"},
		{"/tuf/acme/images/2.root.json", http.StatusNotFound, nil, ""},
		{"/tuf/acme/images/1.nope.json", http.StatusNotFound, nil, ""},
		{"/tuf/acme/images/readme.txt", http.StatusNotFound, nil, ""},
		{"/tuf/acme/other/1.root.json", http.StatusNotFound, nil, ""},
		{"/tuf/timestamp.json", http.StatusNotFound, nil, ""},
		{"/tuf/" + strings.Repeat("a/", 300) + "timestamp.json", http.StatusNotFound, nil, ""},
	}
	for _, tc := range tests {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("GET %s = %d %q, want %d", tc.path, resp.StatusCode, body, tc.code)
			continue
		}
		if tc.code != http.StatusOK {
			continue
		}
		if tc.body != nil && !bytes.Equal(body, tc.body) {
			t.Errorf("GET %s: body differs from what was uploaded", tc.path)
		}
		if resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(resp.Header.Get("Cache-Control"), tc.cache) {
			t.Errorf("GET %s: headers %v", tc.path, resp.Header)
		}
	}
}

// strangerRoot is a root v2 naming and signed by stranger alone.
func strangerRoot(t *testing.T, f *fixture, stranger tuftest.Key) []byte {
	t.Helper()
	md, err := tuf.NewRoot(tuf.RootSpec{Version: 2, Expires: time.Now().Add(time.Hour),
		Root: tuf.KeySet{Keys: []*gotuf.Key{stranger.Key}, Threshold: 1}, Targets: tuf.KeySet{Keys: []*gotuf.Key{stranger.Key}, Threshold: 1},
		Snapshot: tuf.Keys(f.online.Keys(gotuf.SNAPSHOT)), Timestamp: tuf.Keys(f.online.Keys(gotuf.TIMESTAMP))})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := tuf.Sign(md, stranger.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}
