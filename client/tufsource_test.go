package client_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/internal/tuftest"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
)

// tufServer serves trustd's TUF service in process.
func tufServer(t *testing.T) (trustv1.TUFServiceClient, *tuf.OnlineKeys) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trustd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	skey, vkey, err := tlog.GenerateLogKey("test-log")
	if err != nil {
		t.Fatal(err)
	}
	l, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	online := tuftest.OnlineKeys(t)
	state, err := tufstore.New(st, l)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := tuf.New(state, online, tuf.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Store: st, Log: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TUF: svc, TUFState: state, TUFKeys: online})
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return trustv1.NewTUFServiceClient(conn), online
}

func TestTUFClientDelegatedRole(t *testing.T) {
	c, online := tufServer(t)
	ctx := context.Background()
	r := tuftest.NewRepo(t, "acme/images", online)
	if _, err := c.InitRepo(ctx, &trustv1.InitRepoRequest{Repo: r.Name, Root: r.RootV1}); err != nil {
		t.Fatal(err)
	}
	// targets delegates app/* to the role "releases", held by another key.
	rel := tuftest.NewKey(t)
	top, err := tuf.NextTargets(nil, time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	top.Signed.Delegations = &metadata.Delegations{
		Keys:  map[string]*metadata.Key{rel.ID: rel.Key},
		Roles: []metadata.DelegatedRole{{Name: "releases", KeyIDs: []string{rel.ID}, Threshold: 1, Paths: []string{"app/*"}}},
	}
	topDoc, err := tuf.Sign(top, r.Targets.Signer)
	if err != nil {
		t.Fatal(err)
	}
	upload := func(role string, doc []byte) {
		t.Helper()
		if _, err := c.UploadMetadata(ctx, &trustv1.UploadMetadataRequest{Repo: r.Name, Role: role, Metadata: doc}); err != nil {
			t.Fatalf("upload %s: %v", role, err)
		}
	}
	upload("targets", topDoc)
	upload("releases", r.SignTargets(t, nil, "app/app-1.0.tar.gz", []byte("app"), rel.Signer))

	src := &client.TUFClient{GetMetadata: func(ctx context.Context, req *trustv1.GetMetadataRequest) (*trustv1.GetMetadataResponse, error) {
		return c.GetMetadata(ctx, req)
	}, Roots: map[string][]byte{r.Name: r.RootV1}}
	role, err := src.TUFRole(ctx, r.Name, "releases")
	if err != nil {
		t.Fatal(err)
	}
	if !role.Verified || role.Version != 1 || len(role.Targets["app/app-1.0.tar.gz"]) != 2 || role.Input.URI != "trustd:tuf/acme/images/1.releases.json" {
		t.Errorf("releases: %+v", role)
	}
	if role, err := src.TUFRole(ctx, r.Name, "targets"); err != nil || len(role.Targets) != 0 || role.Version != 1 {
		t.Errorf("targets: %+v %v", role, err)
	}
	if _, err := src.TUFRole(ctx, r.Name, "nightlies"); err == nil || !strings.Contains(err.Error(), "not delegated") {
		t.Errorf("undelegated role: %v", err)
	}
	if _, err := src.TUFRole(ctx, "acme/other", "targets"); err == nil || !strings.Contains(err.Error(), "no pinned TUF root") {
		t.Errorf("unpinned repository: %v", err)
	}
	// A root that is not this repository's: the update fails.
	other := tuftest.NewRepo(t, "acme/other", online)
	src.Roots[r.Name] = other.RootV1
	if _, err := src.TUFRole(ctx, r.Name, "releases"); err == nil {
		t.Error("metadata verified under another repository's root")
	}
}
