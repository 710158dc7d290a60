package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/tlog"
)

// maxLogKeyFile bounds the log key file read.
const maxLogKeyFile = 4 << 10

// loadLogKey reads the log's note key pair from path (signer key on the
// first line, verifier key on the second), creating it for origin with mode
// 0600 when the file does not exist yet. Replicas sharing one database must
// share this file.
func loadLogKey(path, origin string) (skey, vkey string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return createLogKey(path, origin)
	}
	if err != nil {
		return "", "", fmt.Errorf("--log-key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxLogKeyFile+1))
	if err != nil {
		return "", "", fmt.Errorf("--log-key: read %s: %w", path, err)
	}
	if len(data) > maxLogKeyFile {
		return "", "", fmt.Errorf("--log-key: %s is larger than %d bytes: not a log key file", path, maxLogKeyFile)
	}
	lines := strings.Fields(string(data))
	if len(lines) != 2 {
		return "", "", fmt.Errorf("--log-key: %s: want two lines (signer key, verifier key), got %d", path, len(lines))
	}
	skey, vkey = lines[0], lines[1]
	signer, err := note.NewSigner(skey)
	if err != nil {
		return "", "", fmt.Errorf("--log-key: %s: first line is not a note signer key", path)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return "", "", fmt.Errorf("--log-key: %s: second line is not a note verifier key: %w", path, err)
	}
	if signer.Name() != verifier.Name() || signer.KeyHash() != verifier.KeyHash() {
		return "", "", fmt.Errorf("--log-key: %s: signer and verifier keys do not belong together", path)
	}
	return skey, vkey, nil
}

func createLogKey(path, origin string) (string, string, error) {
	skey, vkey, err := tlog.GenerateLogKey(origin)
	if err != nil {
		return "", "", fmt.Errorf("--log-origin: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", fmt.Errorf("--log-key: create %s: %w", path, err)
	}
	if _, err := fmt.Fprintf(f, "%s\n%s\n", skey, vkey); err != nil {
		f.Close()
		return "", "", fmt.Errorf("--log-key: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("--log-key: write %s: %w", path, err)
	}
	return skey, vkey, nil
}
