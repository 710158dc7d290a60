package server

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/internal/version"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/statement"
)

// serverService answers GetServerInfo: which build of trustd a client
// talks to, the log it serves, its database kind and its uptime.
type serverService struct {
	trustv1.UnimplementedServerServiceServer
	build    version.Info
	log      *statement.Log
	database string
	started  time.Time
	now      func() time.Time
}

// GetServerInfo implements trustv1.ServerServiceServer.
func (s *serverService) GetServerInfo(context.Context, *trustv1.GetServerInfoRequest) (*trustv1.GetServerInfoResponse, error) {
	now := s.now()
	return &trustv1.GetServerInfoResponse{
		Version:   s.build.Version,
		Commit:    s.build.Commit,
		Modified:  s.build.Modified,
		BuildDate: s.build.BuildDate,
		GoVersion: s.build.GoVersion,
		LogOrigin: logOrigin(s.log.VerifierKey()),
		Database:  s.database,
		StartedAt: timestamppb.New(s.started),
		Uptime:    durationpb.New(now.Sub(s.started).Truncate(time.Second)),
	}, nil
}

// logOrigin is the origin (name) of a note verifier key NAME+HASH+KEY.
func logOrigin(verifierKey string) string {
	name, _, _ := strings.Cut(verifierKey, "+")
	return name
}
