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

// logKeys are the log's note keys as --log-key names them: the key that
// signs checkpoints, and the keys a planned rotation retires, which
// co-sign them.
type logKeys struct {
	skey, vkey string
	// retiring are the retiring keys' signer keys, retiringV their
	// verifier keys.
	retiring, retiringV []string
}

// loadLogKeys reads the log's note key pairs from paths (in each file the
// signer key on the first line, the verifier key on the second). A file
// that does not exist yet is created with mode 0600, named as the existing
// keys are (a rotation keeps the log's name), or origin when none exists.
// The first key signs checkpoints; the others retire (see rotationHelp).
// Replicas sharing one database must share these files.
func loadLogKeys(paths []string, origin string) (logKeys, error) {
	type pair struct{ skey, vkey string }
	pairs := make([]*pair, len(paths))
	name := ""
	for i, path := range paths {
		skey, vkey, err := readLogKey(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return logKeys{}, err
		}
		v, _ := note.NewVerifier(vkey) // readLogKey checked it
		if name != "" && v.Name() != name {
			return logKeys{}, fmt.Errorf("--log-key: %s holds a key named %q, %s one named %q: a log's keys share its name (the origin of its checkpoints)", path, v.Name(), paths[0], name)
		}
		name = v.Name()
		pairs[i] = &pair{skey, vkey}
	}
	if name == "" {
		name = origin
	}
	for i, path := range paths {
		if pairs[i] != nil {
			continue
		}
		skey, vkey, err := createLogKey(path, name)
		if err != nil {
			return logKeys{}, err
		}
		pairs[i] = &pair{skey, vkey}
	}
	k := logKeys{skey: pairs[0].skey, vkey: pairs[0].vkey}
	for _, p := range pairs[1:] {
		k.retiring, k.retiringV = append(k.retiring, p.skey), append(k.retiringV, p.vkey)
	}
	return k, nil
}

// readLogKey reads one log key file; a missing file is os.ErrNotExist.
func readLogKey(path string) (skey, vkey string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", err
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
