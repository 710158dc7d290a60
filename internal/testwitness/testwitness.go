// Package testwitness is an in-process C2SP tlog-witness
// (c2sp.org/tlog-witness) for tests, built from code independent of
// trustd's: cosignatures by filippo.io/torchwood's CosignatureSigner,
// checkpoints parsed by torchwood and signatures checked by
// golang.org/x/mod/sumdb/note, consistency proofs checked by
// golang.org/x/mod/sumdb/tlog.CheckTree.
//
// torchwood's own witness, litewitness, is a command (package main, with a
// SQLite state and an ssh-agent key) that a test cannot run in process, so
// this package implements the same add-checkpoint rules in a few lines:
// 404 for an unknown origin, 403 when no log key signed, 400 when the old
// size is above the checkpoint's, 409 (text/x.tlog.size) when the old size
// is not the latest cosigned one or the same size has another root, 422
// when the proof does not verify, else 200 with the cosignature line; the
// check and the update are atomic.
package testwitness

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// Witness is a test witness for logs it knows by their verifier keys.
type Witness struct {
	signer *torchwood.CosignatureSigner
	logs   map[string]note.Verifier // by origin

	mu    sync.Mutex
	state map[string]sumtlog.Tree // by origin: the latest cosigned tree
	down  bool
	calls int
}

// New returns a witness named name with an Ed25519 key derived from seed
// (32 bytes), cosigning for the logs with the given note verifier keys.
func New(name string, seed []byte, logKeys ...string) (*Witness, error) {
	signer, err := torchwood.NewCosignatureSigner(name, ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return nil, err
	}
	w := &Witness{signer: signer, logs: map[string]note.Verifier{}, state: map[string]sumtlog.Tree{}}
	for _, k := range logKeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, err
		}
		w.logs[v.Name()] = v
	}
	return w, nil
}

// VerifierKey is the witness's cosignature/v1 verifier key.
func (w *Witness) VerifierKey() string { return w.signer.Verifier().String() }

// SetDown makes the witness answer 503 to every call (or not).
func (w *Witness) SetDown(down bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.down = down
}

// Latest returns the size of the latest checkpoint of origin it cosigned.
func (w *Witness) Latest(origin string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state[origin].N
}

// Calls returns how many add-checkpoint requests it answered.
func (w *Witness) Calls() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}

// ServeHTTP answers POST /add-checkpoint.
func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/add-checkpoint" {
		http.NotFound(rw, r)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	if w.down {
		http.Error(rw, "witness is down", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	old, proof, signed, err := parseRequest(body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	text, _, _ := strings.Cut(string(signed), "\n")
	v, ok := w.logs[text]
	if !ok {
		http.Error(rw, "unknown log", http.StatusNotFound)
		return
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		http.Error(rw, "no valid signature by the log: "+err.Error(), http.StatusForbidden)
		return
	}
	cp, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	if old > cp.N {
		http.Error(rw, "old size above the checkpoint's", http.StatusBadRequest)
		return
	}
	latest := w.state[cp.Origin]
	if old != latest.N {
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", latest.N)
		return
	}
	if old == cp.N && cp.Hash != latest.Hash {
		http.Error(rw, "same size, another root", http.StatusConflict)
		return
	}
	if old > 0 && old < cp.N {
		if err := sumtlog.CheckTree(proof, cp.N, cp.Hash, old, latest.Hash); err != nil {
			http.Error(rw, "consistency proof: "+err.Error(), http.StatusUnprocessableEntity)
			return
		}
	} else if len(proof) != 0 {
		http.Error(rw, "a proof where none is due", http.StatusUnprocessableEntity)
		return
	}
	cosigned, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	w.state[cp.Origin] = cp.Tree
	_, sigs, _ := bytes.Cut(cosigned, []byte("\n\n"))
	_, _ = rw.Write(sigs)
}

// parseRequest splits an add-checkpoint body into the old size, the proof
// and the signed checkpoint.
func parseRequest(body []byte) (int64, sumtlog.TreeProof, []byte, error) {
	br := bufio.NewReader(bytes.NewReader(body))
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, nil, nil, fmt.Errorf("no old size line")
	}
	s, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "old ")
	old, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil || old < 0 || strconv.FormatInt(old, 10) != s {
		return 0, nil, nil, fmt.Errorf("malformed old size line %q", line)
	}
	var proof sumtlog.TreeProof
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, nil, nil, fmt.Errorf("no empty line before the checkpoint")
		}
		if line == "\n" {
			break
		}
		h, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(line, "\n"))
		if err != nil || len(h) != sumtlog.HashSize || len(proof) >= 63 {
			return 0, nil, nil, fmt.Errorf("malformed proof line %q", line)
		}
		proof = append(proof, sumtlog.Hash(h))
	}
	rest, _ := io.ReadAll(br)
	return old, proof, rest, nil
}

// NewVerifier returns a note verifier of cosignature/v1 signatures by the
// witness key vkey, written here from the C2SP tlog-cosignature text
// rather than taken from trustd's tlog package, so tests check trustd's
// cosignatures independently.
func NewVerifier(vkey string) (note.Verifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("witness key %q: want name+hash+key", vkey)
	}
	h, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) != 33 || key[0] != 0x04 {
		return nil, fmt.Errorf("witness key %q: not a cosignature/v1 key", vkey)
	}
	return &cosigVerifier{name: parts[0], hash: uint32(h), key: ed25519.PublicKey(key[1:])}, nil
}

type cosigVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	var t uint64
	for _, b := range sig[:8] {
		t = t<<8 | uint64(b)
	}
	return ed25519.Verify(v.key, fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t, msg), sig[8:])
}
