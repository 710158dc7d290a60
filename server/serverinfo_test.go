package server_test

import (
	"context"
	"testing"

	"github.com/trustd-dev/trustd/internal/version"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// TestGetServerInfo: anyone may ask which trustd it talks to; the answer
// is this binary's build, the log's origin, the database kind (never its
// address) and a non-negative uptime.
func TestGetServerInfo(t *testing.T) {
	f := newFixture(t)
	r, err := trustv1.NewServerServiceClient(f.conn).GetServerInfo(context.Background(), &trustv1.GetServerInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b := version.Get()
	for _, c := range []struct{ field, got, want string }{
		{"version", r.GetVersion(), b.Version},
		{"commit", r.GetCommit(), b.Commit},
		{"build_date", r.GetBuildDate(), b.BuildDate},
		{"go_version", r.GetGoVersion(), b.GoVersion},
		{"database", r.GetDatabase(), version.Unknown},
		{"log_origin", r.GetLogOrigin(), "test-log"},
	} {
		if c.got != c.want || c.got == "" {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if r.GetUptime().AsDuration() < 0 || !r.GetStartedAt().IsValid() {
		t.Errorf("uptime %v started %v", r.GetUptime(), r.GetStartedAt())
	}
}
