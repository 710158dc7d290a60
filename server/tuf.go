package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
)

// maxTUFPath bounds the path of a TUF metadata request: a repository name
// (at most 4 segments of 64) and a file name.
const maxTUFPath = 512

// tufService implements trustv1.TUFServiceServer.
type tufService struct {
	trustv1.UnimplementedTUFServiceServer
	svc   *tuf.Service
	state tuf.State
	keys  *tuf.OnlineKeys
	log   *statement.Log // for GetMetadata by log entry
}

func required(field, v string) error {
	if v == "" {
		return invalidField(field, errors.New("is required"))
	}
	return nil
}

func (s *tufService) InitRepo(ctx context.Context, req *trustv1.InitRepoRequest) (*trustv1.InitRepoResponse, error) {
	if err := errors.Join(required("repo", req.GetRepo()), requiredBytes("root", req.GetRoot())); err != nil {
		return nil, err
	}
	res, err := s.svc.Init(ctx, req.GetRepo(), req.GetRoot())
	if err != nil {
		return nil, err
	}
	return &trustv1.InitRepoResponse{Result: resultToProto(res)}, nil
}

func requiredBytes(field string, v []byte) error {
	if len(v) == 0 {
		return invalidField(field, errors.New("is required"))
	}
	return nil
}

func (s *tufService) UploadMetadata(ctx context.Context, req *trustv1.UploadMetadataRequest) (*trustv1.UploadMetadataResponse, error) {
	if err := errors.Join(required("repo", req.GetRepo()), required("role", req.GetRole()), requiredBytes("metadata", req.GetMetadata())); err != nil {
		return nil, err
	}
	res, err := s.svc.Upload(ctx, req.GetRepo(), req.GetRole(), req.GetMetadata())
	if err != nil {
		return nil, err
	}
	return &trustv1.UploadMetadataResponse{Result: resultToProto(res)}, nil
}

func (s *tufService) AddSignatures(ctx context.Context, req *trustv1.AddSignaturesRequest) (*trustv1.AddSignaturesResponse, error) {
	if err := errors.Join(required("repo", req.GetRepo()), required("role", req.GetRole())); err != nil {
		return nil, err
	}
	if req.GetVersion() < 1 {
		return nil, invalidField("version", fmt.Errorf("%d: versions start at 1", req.GetVersion()))
	}
	sigs := make([]metadata.Signature, len(req.GetSignatures()))
	for i, sg := range req.GetSignatures() {
		sigs[i] = metadata.Signature{KeyID: sg.GetKeyId(), Signature: sg.GetSig()}
	}
	res, err := s.svc.AddSignatures(ctx, req.GetRepo(), req.GetRole(), req.GetVersion(), req.GetProposal(), sigs)
	if err != nil {
		return nil, err
	}
	return &trustv1.AddSignaturesResponse{Result: resultToProto(res)}, nil
}

func (s *tufService) GetStatus(ctx context.Context, req *trustv1.GetStatusRequest) (*trustv1.GetStatusResponse, error) {
	if err := required("repo", req.GetRepo()); err != nil {
		return nil, err
	}
	st, err := s.svc.Status(ctx, req.GetRepo())
	if err != nil {
		return nil, err
	}
	out := &trustv1.GetStatusResponse{Repo: st.Repo, Root: roleToProto(&st.Root), Timestamp: roleToProto(st.Timestamp), Snapshot: roleToProto(st.Snapshot)}
	for i := range st.Targets {
		out.Targets = append(out.Targets, roleToProto(&st.Targets[i]))
	}
	for i := range st.Pending {
		out.Pending = append(out.Pending, pendingToProto(&st.Pending[i]))
	}
	return out, nil
}

func (s *tufService) GetMetadata(ctx context.Context, req *trustv1.GetMetadataRequest) (*trustv1.GetMetadataResponse, error) {
	if seq := req.GetLogSeq(); seq != 0 {
		return s.metadataOfEntry(ctx, seq)
	}
	if err := errors.Join(required("repo", req.GetRepo()), required("name", req.GetName())); err != nil {
		return nil, err
	}
	if !req.GetPending() {
		data, err := s.svc.Metadata(ctx, req.GetRepo(), req.GetName())
		if err != nil {
			return nil, err
		}
		return &trustv1.GetMetadataResponse{Data: data}, nil
	}
	role, version, ok := tuf.ParseFileName(req.GetName())
	if !ok || version == 0 {
		return nil, invalidField("name", fmt.Errorf("%q: a pending proposal is named VERSION.ROLE.json", req.GetName()))
	}
	p, err := s.svc.Proposal(ctx, req.GetRepo(), role, version, req.GetProposal())
	if err != nil {
		return nil, err
	}
	return &trustv1.GetMetadataResponse{Data: p.Data}, nil
}

// metadataOfEntry returns the TUF metadata log entry seq holds and what it
// is (repository, role, version, pending or published).
func (s *tufService) metadataOfEntry(ctx context.Context, seq uint64) (*trustv1.GetMetadataResponse, error) {
	if seq > math.MaxInt64 {
		return nil, invalidField("log_seq", fmt.Errorf("%d is out of range", seq))
	}
	e, err := s.log.Get(ctx, int64(seq))
	if err != nil {
		return nil, err
	}
	d, err := tufstore.Describe(e)
	if err != nil {
		return nil, &tuf.Error{Op: "metadata of log entry", Field: "log_seq", Kind: tuf.ErrNotFound, Reason: fmt.Sprintf("entry %d holds no TUF metadata", seq), Err: err}
	}
	return &trustv1.GetMetadataResponse{Data: e.Envelope, Repo: d.Repo, Role: d.Role, Version: d.Version, Pending: d.Pending}, nil
}

func (s *tufService) GetOnlineKeys(context.Context, *trustv1.GetOnlineKeysRequest) (*trustv1.GetOnlineKeysResponse, error) {
	conv := func(role string) ([]*trustv1.TUFKey, error) {
		m := s.keys.Keys(role)
		ids := make([]string, 0, len(m))
		for id := range m {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		var out []*trustv1.TUFKey
		for _, id := range ids {
			raw, err := json.Marshal(m[id])
			if err != nil {
				return nil, fmt.Errorf("online %s key %s: %w", role, id, err)
			}
			out = append(out, &trustv1.TUFKey{KeyId: id, Key: raw})
		}
		return out, nil
	}
	snap, err := conv(metadata.SNAPSHOT)
	if err != nil {
		return nil, err
	}
	ts, err := conv(metadata.TIMESTAMP)
	if err != nil {
		return nil, err
	}
	return &trustv1.GetOnlineKeysResponse{Snapshot: snap, Timestamp: ts}, nil
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func roleToProto(r *tuf.RoleStatus) *trustv1.TUFRoleStatus {
	if r == nil {
		return nil
	}
	return &trustv1.TUFRoleStatus{Role: r.Role, Version: r.Version, Expires: ts(r.Expires)}
}

func pendingToProto(p *tuf.PendingStatus) *trustv1.TUFPendingStatus {
	if p == nil {
		return nil
	}
	out := &trustv1.TUFPendingStatus{Role: p.Role, Version: p.Version, Expires: ts(p.Expires), SignedDigest: p.SignedDigest, Problem: p.Problem}
	for _, th := range p.Thresholds {
		out.Thresholds = append(out.Thresholds, &trustv1.TUFThreshold{Authority: th.Authority, Threshold: int32(th.Threshold),
			KeyIds: th.KeyIDs, Signed: th.Signed, Missing: th.Missing})
	}
	return out
}

func resultToProto(r *tuf.Result) *trustv1.TUFResult {
	out := &trustv1.TUFResult{Repo: r.Repo, Role: r.Role, Version: r.Version, Pending: pendingToProto(r.Pending),
		SignedBy: r.SignedBy, Removed: r.Removed}
	for _, f := range r.Published {
		sum := sha256.Sum256(f.Data)
		out.Published = append(out.Published, &trustv1.TUFFile{Role: f.Role, Version: f.Version, Sha256: hex.EncodeToString(sum[:])})
	}
	for _, t := range r.Targets {
		pt := &trustv1.TUFTarget{Name: t.Name, Length: t.Length, Role: t.Role, Version: t.Version, KeyIds: t.KeyIDs}
		for _, d := range t.Digests {
			pt.Digests = append(pt.Digests, d.String())
		}
		out.Targets = append(out.Targets, pt)
	}
	return out
}

// registerTUFHTTP serves TUF metadata in the layout TUF clients fetch, with
// consistent snapshots:
//
//	GET /tuf/{repo...}/{N}.root.json, timestamp.json, {N}.snapshot.json,
//	    {N}.targets.json, {N}.{role}.json
//
// A missing file is 404 (a client's root walk ends there). Versioned files
// never change, so they are cacheable for good; timestamp.json is not.
func (s *Server) registerTUFHTTP(mux *http.ServeMux, ts *tufService) {
	mux.HandleFunc("GET /tuf/{path...}", func(w http.ResponseWriter, r *http.Request) {
		path := r.PathValue("path")
		i := strings.LastIndexByte(path, '/')
		if len(path) > maxTUFPath || i <= 0 {
			http.NotFound(w, r)
			return
		}
		repo, name := path[:i], path[i+1:]
		if tuf.ValidRepoName(repo) != nil {
			http.NotFound(w, r)
			return
		}
		var data []byte
		read := func(ctx context.Context) (err error) {
			data, err = ts.svc.Metadata(ctx, repo, name)
			return err
		}
		_, version, _ := tuf.ParseFileName(name)
		var err error
		if version > 0 {
			err = s.standbyHTTP(r, read)
		} else {
			err = read(r.Context()) // timestamp.json: never older than a client saw
		}
		if err != nil {
			s.httpError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if version > 0 {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		_, _ = w.Write(data)
	})
}
