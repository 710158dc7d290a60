package envelope

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const testPassword = "trustd-test-password"

// testKeys are the openssl-made key pairs in testdata, by file stem.
var testKeys = []struct {
	stem    string
	keyType string
	scheme  string
}{
	{"ed25519", KeyTypeED25519, SchemeED25519},
	{"p256", KeyTypeECDSAP256, SchemeECDSAP256SHA256},
	{"p384", KeyTypeECDSAP384, SchemeECDSAP384SHA384},
	{"rsa3072", KeyTypeRSA, SchemeRSAPSSSHA256},
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pythonKeyIDs are the key ids python-securesystemslib computed for the
// testdata keys (testdata/keyids.json).
func pythonKeyIDs(t testing.TB) map[string]struct{ TUF, Legacy string } {
	t.Helper()
	var ids map[string]struct {
		TUF    string `json:"tuf"`
		Legacy string `json:"legacy"`
	}
	if err := json.Unmarshal(readTestdata(t, "keyids.json"), &ids); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]struct{ TUF, Legacy string }, len(ids))
	for k, v := range ids {
		out[k] = struct{ TUF, Legacy string }{v.TUF, v.Legacy}
	}
	return out
}

func mustPublic(t testing.TB, stem string) PublicKey {
	t.Helper()
	k, err := ParsePublicKey(readTestdata(t, stem+".pub"))
	if err != nil {
		t.Fatalf("ParsePublicKey(%s.pub): %v", stem, err)
	}
	return k
}

func mustSigner(t testing.TB, stem string) Signer {
	t.Helper()
	s, _, err := LoadPrivateKey(readTestdata(t, stem+".key"), nil)
	if err != nil {
		t.Fatalf("LoadPrivateKey(%s.key): %v", stem, err)
	}
	return s
}

// registry is an in-memory key registry, standing in for the store.
type memRegistry struct {
	mu   sync.Mutex
	rows map[string]struct {
		keyType string
		encoded []byte
	}
	err error // returned by every lookup when set
}

func newRegistry(keys ...PublicKey) *memRegistry {
	r := &memRegistry{rows: map[string]struct {
		keyType string
		encoded []byte
	}{}}
	for _, k := range keys {
		r.put(k.ID, k.Type, k.Encode())
	}
	return r
}

func (r *memRegistry) put(id, keyType string, encoded []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows[id] = struct {
		keyType string
		encoded []byte
	}{keyType, encoded}
}

func (r *memRegistry) lookup(_ context.Context, id string) (string, []byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return "", nil, r.err
	}
	row, ok := r.rows[id]
	if !ok {
		return "", nil, fmt.Errorf("key %s: %w", id, ErrUnknownKey)
	}
	return row.keyType, row.encoded, nil
}

// sentinels are every sentinel error of the package.
var sentinels = []error{ErrInvalidKey, ErrUnknownKey, ErrBadSignature, ErrWrongKeyType, ErrTooLarge,
	ErrTooDeep, ErrMalformed, ErrPayloadType, ErrInvalidStatement, ErrBadPassword}

// checkError asserts that err is an *Error matching want and whose message
// contains every one of msgs.
func checkError(t testing.TB, err, want error, msgs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	t.Log(err)
	if !errors.Is(err, want) {
		t.Fatalf("error %q does not match %v", err, want)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q is a %T, not an *Error", err, err)
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
}

// checkOneSentinel asserts err is an *Error matching exactly one sentinel,
// apart from the pairs the API documents (a too-large or too-deep key is an
// invalid key; a missing password is a bad password).
func checkOneSentinel(t testing.TB, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q is a %T, not an *Error", err, err)
	}
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 && !(errors.Is(err, ErrInvalidKey) && n == 2 && (errors.Is(err, ErrTooLarge) || errors.Is(err, ErrTooDeep))) {
		t.Fatalf("error %q matches %d sentinels", err, n)
	}
}
