package tlog

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ErrWitnessConflict reports a tlog-witness add-checkpoint refused with
// 409 Conflict: the witness's latest cosigned size is not the old size the
// request named (WitnessConflictError carries it), or the same size with
// another root.
var ErrWitnessConflict = errors.New("witness conflict")

// WitnessConflictError is the 409 answer of a witness that names its
// latest cosigned size of the log.
type WitnessConflictError struct {
	// Size is the tree size of the witness's latest cosigned checkpoint.
	Size uint64
}

func (e *WitnessConflictError) Error() string {
	return fmt.Sprintf("%v: the witness's latest cosigned size is %d", ErrWitnessConflict, e.Size)
}

// Unwrap makes the error match ErrWitnessConflict.
func (e *WitnessConflictError) Unwrap() error { return ErrWitnessConflict }

// maxWitnessResponse bounds the body read from a witness.
const maxWitnessResponse = 64 << 10

// AddCheckpoint submits a signed checkpoint to a witness with the
// c2sp.org/tlog-witness add-checkpoint call: POST url (the witness's
// submission prefix + "/add-checkpoint") with the old size the witness
// last cosigned, the consistency proof from it, and the checkpoint. It
// returns the witness's signature lines (to be checked with
// OpenCosignatures). A 409 answer carrying the witness's size is a
// *WitnessConflictError; other refusals name the status and the
// witness's message.
func AddCheckpoint(ctx context.Context, hc *http.Client, url string, oldSize uint64, proof [][]byte, signed []byte) ([]byte, error) {
	if len(proof) > MaxProofHashes-1 {
		return nil, fmt.Errorf("tlog: add-checkpoint: %d proof hashes, the protocol allows 63", len(proof))
	}
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", oldSize)
	for _, h := range proof {
		body.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	body.WriteString("\n")
	body.Write(signed)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return nil, fmt.Errorf("tlog: add-checkpoint %s: %w", url, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tlog: add-checkpoint: %w", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxWitnessResponse+1))
	if err != nil {
		return nil, fmt.Errorf("tlog: add-checkpoint %s: read answer: %w", url, err)
	}
	if len(out) > maxWitnessResponse {
		return nil, fmt.Errorf("tlog: add-checkpoint %s: answer over %d bytes", url, maxWitnessResponse)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return out, nil
	case resp.StatusCode == http.StatusConflict && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/x.tlog.size"):
		line, ok := strings.CutSuffix(string(out), "\n")
		n, err := strconv.ParseUint(line, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("tlog: add-checkpoint %s: 409 with a malformed size %q", url, out)
		}
		return nil, fmt.Errorf("tlog: add-checkpoint %s: %w", url, &WitnessConflictError{Size: n})
	case resp.StatusCode == http.StatusConflict:
		return nil, fmt.Errorf("tlog: add-checkpoint %s: %w: %s", url, ErrWitnessConflict, firstLine(out))
	}
	return nil, fmt.Errorf("tlog: add-checkpoint %s: %s: %s", url, resp.Status, firstLine(out))
}

// firstLine returns the first line of a witness's message, bounded, for
// error text.
func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if len(line) > 200 {
		line = line[:200]
	}
	return strconv.Quote(string(line))
}
