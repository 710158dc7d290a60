package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/store"
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

// sharedLogKey loads the log key at path for a replica serving st. The
// database records the log's verifier key at its first start; a replica
// whose key differs (one started without the shared key file, which would
// otherwise create a key of its own and sign checkpoints no client
// accepts) is refused with an error saying what to do. A key file is
// created only for a database that records no key yet.
func sharedLogKey(ctx context.Context, st store.Store, path, origin string) (skey, vkey string, err error) {
	recorded, err := st.LogVerifierKey(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("log key: read the key the database records: %w", err)
	}
	_, statErr := os.Stat(path)
	missing := errors.Is(statErr, os.ErrNotExist)
	if recorded != "" && missing {
		return "", "", fmt.Errorf("--log-key: %s does not exist, but this database's log is signed by %s: give every replica the same log key file (a new key would sign checkpoints no client accepts)",
			path, recorded)
	}
	if skey, vkey, err = loadLogKey(path, origin); err != nil {
		return "", "", err
	}
	if recorded == "" {
		err := st.Update(ctx, func(ctx context.Context, w store.Writer) error { return w.SetLogVerifierKey(ctx, vkey, "") })
		switch {
		case errors.Is(err, store.ErrConflict): // another replica recorded its key first
			if recorded, err = st.LogVerifierKey(ctx); err != nil {
				return "", "", fmt.Errorf("log key: read the key the database records: %w", err)
			}
		case err != nil:
			return "", "", fmt.Errorf("log key: record %s: %w", vkey, err)
		default:
			recorded = vkey
		}
	}
	if recorded != vkey {
		if missing {
			_ = os.Remove(path) // the key just created is of no use
		}
		return "", "", fmt.Errorf("--log-key: %s holds the key %s, but this database's log is signed by %s (recorded at its first start): every replica must use the same log key file; refusing to serve",
			path, vkey, recorded)
	}
	return skey, vkey, nil
}
