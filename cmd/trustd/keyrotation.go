package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/revocation"
)

// rotationHelp is the part of trustd's help that teaches a planned key
// rotation; README.md ("Rotating trustd's keys") says the same at length.
const rotationHelp = `Rotating trustd's keys: --token-key, --revocation-list-key and --log-key
each take several files (repeatable or comma-separated). The first key is
the one in use; the others are accepted beside it and published in the
trustd/keys TUF repository, whose root does not change, so clients follow
from the root they pinned. Restart every replica with the same files at
each step.
  token key: (1) --token-key cur.key,next.key: next.key (created if missing)
  is published beside cur.key; wait until offline verifiers have synced
  (trustctl revocations sync, or token key --root). (2) --token-key
  next.key,cur.key: next.key signs; tokens cur.key signed still verify.
  (3) once those have expired (--token-ttl): --token-key next.key.
  revocation list key: clients fetch the keys with every list, so step (1)
  is not needed: (2) --revocation-list-key next.key,cur.key, then (3)
  --revocation-list-key next.key once every replica signs with next.key.
  log key: (1) --log-key next.key,cur.key: next.key signs checkpoints,
  cur.key co-signs them and they announce next.key, so clients that pinned
  cur.key (trustctl log) move to next.key. (2) once clients have followed:
  --log-key next.key.`

// keyFiles resolves a key flag: its files, or def in the data directory
// when none is given; a file named twice is refused.
func (c *config) keyFiles(flag string, paths []string, def string) ([]string, error) {
	if len(paths) == 0 {
		if err := ensureWritableDir(c.DataDir); err != nil {
			return nil, fmt.Errorf("--data-dir (for %s): %w", flag, err)
		}
		return []string{filepath.Join(c.DataDir, def)}, nil
	}
	return paths, checkKeyFiles(flag, paths)
}

// checkKeyFiles refuses an empty or repeated file in a key flag.
func checkKeyFiles(flag string, paths []string) error {
	seen := map[string]bool{}
	for _, p := range paths {
		switch clean := filepath.Clean(p); {
		case p == "":
			return fmt.Errorf("%s: an empty file name", flag)
		case seen[clean]:
			return fmt.Errorf("%s: %s is named twice; the first file is the key in use, the others are accepted beside it", flag, p)
		default:
			seen[clean] = true
		}
	}
	return nil
}

// logRotation tells the operator at start which keys are being rotated.
func logRotation(log *slog.Logger, what string, inUse string, accepted []string) {
	if len(accepted) == 0 {
		return
	}
	log.Info("key rotation: "+what+" in use, and keys accepted beside it (published in "+revocation.KeysRepo+")", "in_use", inUse, "accepted", accepted)
}

// keyIDs are the ids of keys, for logs.
func keyIDs(keys []envelope.PublicKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}
