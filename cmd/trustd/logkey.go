package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/trustd-dev/trustd/store"
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

// sharedLogKeys loads the log keys at paths (see loadLogKeys) for a
// replica serving st. The database records the log's verifier key at its
// first start; a replica whose key differs (one started without the shared
// key file, which would otherwise create a key of its own and sign
// checkpoints no client accepts) is refused with an error saying what to
// do. A planned rotation is the one way to change the recorded key: when
// the recorded key is one of the retiring keys (--log-key NEW,OLD), the
// new key is recorded in its place, compare-and-swap against the recorded
// one, so replicas restarting with the same rotation agree. A key file is
// created only for a database that records no key yet, or as the new key
// of a rotation whose other files hold the recorded key.
func sharedLogKeys(ctx context.Context, log *slog.Logger, st store.Store, paths []string, origin string) (logKeys, error) {
	recorded, err := st.LogVerifierKey(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return logKeys{}, fmt.Errorf("log key: read the key the database records: %w", err)
	}
	var missing []string
	holdsRecorded := false
	for _, path := range paths {
		_, vkey, err := readLogKey(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			missing = append(missing, path)
		case err != nil:
			return logKeys{}, err
		case vkey == recorded:
			holdsRecorded = true
		}
	}
	if recorded != "" && len(missing) > 0 && !holdsRecorded {
		return logKeys{}, fmt.Errorf("--log-key: %s does not exist, but this database's log is signed by %s: give every replica the same log key file (a new key would sign checkpoints no client accepts); to rotate the log key, name the file holding %s after the new one",
			strings.Join(missing, ", "), recorded, recorded)
	}
	k, err := loadLogKeys(paths, origin)
	if err != nil {
		return logKeys{}, err
	}
	refuse := func(recorded string) (logKeys, error) {
		for _, path := range missing {
			_ = os.Remove(path) // the key just created is of no use
		}
		return logKeys{}, fmt.Errorf("--log-key: %s holds the key %s, but this database's log is signed by %s (recorded at its first start, or by the last planned rotation): every replica must use the same log key file; to rotate the log key, name the file holding %s after the new one; refusing to serve",
			paths[0], k.vkey, recorded, recorded)
	}
	record := func(expect string) error {
		err := st.Update(ctx, func(ctx context.Context, w store.Writer) error { return w.SetLogVerifierKey(ctx, k.vkey, expect) })
		if errors.Is(err, store.ErrConflict) { // another replica recorded a key first
			if recorded, err = st.LogVerifierKey(ctx); err != nil {
				return fmt.Errorf("log key: read the key the database records: %w", err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("log key: record %s: %w", k.vkey, err)
		}
		recorded = k.vkey
		return nil
	}
	switch {
	case recorded == k.vkey:
	case recorded == "":
		if err := record(""); err != nil {
			return logKeys{}, err
		}
	case slices.Contains(k.retiringV, recorded):
		// A planned rotation: the new key takes the retiring one's place.
		old := recorded
		if err := record(old); err != nil {
			return logKeys{}, err
		}
		if recorded == k.vkey {
			log.Info("log key rotation: the database now records the new log key", "new", k.vkey, "retiring", old)
		}
	}
	if recorded != k.vkey {
		return refuse(recorded)
	}
	return k, nil
}
