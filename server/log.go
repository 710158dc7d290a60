package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/witness"
)

// logService implements trustv1.LogServiceServer.
type logService struct {
	trustv1.UnimplementedLogServiceServer
	log       *statement.Log
	store     store.Reader
	witnesses *witness.Pusher // nil without witnesses
}

// GetCheckpoint returns the checkpoint of the requested size, or with
// tree_size 0 the latest (with witnesses, the one last pushed to them),
// carrying the witness cosignatures stored for it as extra signature
// lines.
func (s *logService) GetCheckpoint(ctx context.Context, req *trustv1.GetCheckpointRequest) (*trustv1.GetCheckpointResponse, error) {
	cp, _, err := witness.Cosigned(ctx, s.witnesses, s.log, s.store, req.GetTreeSize())
	if err != nil {
		return nil, err
	}
	return &trustv1.GetCheckpointResponse{Checkpoint: cp, VerifierKey: s.log.VerifierKey()}, nil
}

func (s *logService) GetInclusionProof(ctx context.Context, req *trustv1.GetInclusionProofRequest) (*trustv1.GetInclusionProofResponse, error) {
	if req.GetSeq() == 0 {
		return nil, invalidField("seq", errors.New("is required (sequence numbers start at 1)"))
	}
	proof, cp, size, err := s.log.InclusionProof(ctx, int64(req.GetSeq()), req.GetTreeSize())
	if err != nil {
		return nil, err
	}
	return &trustv1.GetInclusionProofResponse{Seq: req.GetSeq(), TreeSize: size, Hashes: proof, Checkpoint: cp}, nil
}

func (s *logService) GetConsistencyProof(ctx context.Context, req *trustv1.GetConsistencyProofRequest) (*trustv1.GetConsistencyProofResponse, error) {
	proof, cp, size, err := s.log.ConsistencyProof(ctx, req.GetFromSize(), req.GetToSize())
	if err != nil {
		return nil, err
	}
	return &trustv1.GetConsistencyProofResponse{FromSize: req.GetFromSize(), ToSize: size, Hashes: proof, Checkpoint: cp}, nil
}

// HTTP forms of the log endpoints, for clients without gRPC:
//
//	GET /log/checkpoint                       the signed note, text/plain
//	GET /log/proof/inclusion?seq=N[&size=M]   JSON {seq, tree_size, hashes (base64), checkpoint}
//	GET /log/proof/consistency?from=N[&to=M]  JSON {from_size, to_size, hashes, checkpoint}
func (s *Server) registerLogHTTP(mux *http.ServeMux, ls *logService) {
	mux.HandleFunc("GET /log/checkpoint", func(w http.ResponseWriter, r *http.Request) {
		resp, err := ls.GetCheckpoint(r.Context(), &trustv1.GetCheckpointRequest{})
		if err != nil {
			s.httpError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Log-Verifier-Key", resp.GetVerifierKey())
		_, _ = w.Write(resp.GetCheckpoint())
	})
	mux.HandleFunc("GET /log/proof/inclusion", func(w http.ResponseWriter, r *http.Request) {
		seq, err1 := queryUint(r, "seq", true)
		size, err2 := queryUint(r, "size", false)
		if err := errors.Join(err1, err2); err != nil {
			s.httpError(w, r, err)
			return
		}
		var resp *trustv1.GetInclusionProofResponse
		err := s.sizedHTTP(r, size, func(ctx context.Context) (err error) {
			resp, err = ls.GetInclusionProof(ctx, &trustv1.GetInclusionProofRequest{Seq: seq, TreeSize: size})
			return err
		})
		s.writeJSON(w, r, map[string]any{"seq": resp.GetSeq(), "tree_size": resp.GetTreeSize(), "hashes": resp.GetHashes(), "checkpoint": string(resp.GetCheckpoint())}, err)
	})
	mux.HandleFunc("GET /log/proof/consistency", func(w http.ResponseWriter, r *http.Request) {
		from, err1 := queryUint(r, "from", true)
		to, err2 := queryUint(r, "to", false)
		if err := errors.Join(err1, err2); err != nil {
			s.httpError(w, r, err)
			return
		}
		var resp *trustv1.GetConsistencyProofResponse
		err := s.sizedHTTP(r, to, func(ctx context.Context) (err error) {
			resp, err = ls.GetConsistencyProof(ctx, &trustv1.GetConsistencyProofRequest{FromSize: from, ToSize: to})
			return err
		})
		s.writeJSON(w, r, map[string]any{"from_size": resp.GetFromSize(), "to_size": resp.GetToSize(), "hashes": resp.GetHashes(), "checkpoint": string(resp.GetCheckpoint())}, err)
	})
}

func queryUint(r *http.Request, name string, required bool) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		if required {
			return 0, invalidField(name, errors.New("is required"))
		}
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, invalidField(name, fmt.Errorf("%q is not a non-negative integer", v))
	}
	return n, nil
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
