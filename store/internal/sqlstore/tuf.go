package sqlstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/trustd-dev/trustd/store"
)

// TUF repositories: published metadata (tuf_metadata) and pending proposals
// (tuf_pending). See store.TUFReader and store.TUFWriter.

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func checkTUFName(op, repo, role string, version int64) error {
	switch {
	case repo == "":
		return fmt.Errorf("store: %s: %w: repository name is empty", op, store.ErrInvalid)
	case role == "":
		return fmt.Errorf("store: %s %s: %w: role is empty", op, repo, store.ErrInvalid)
	case version < 0:
		return fmt.Errorf("store: %s %s %s: %w: negative version %d", op, repo, role, store.ErrInvalid, version)
	}
	return nil
}

// TUFMetadata implements store.TUFReader.
func (q *Queries) TUFMetadata(ctx context.Context, repo, role string, version int64) ([]byte, error) {
	if err := checkTUFName("tuf metadata", repo, role, version); err != nil {
		return nil, err
	}
	var (
		data []byte
		err  error
	)
	if version == 0 {
		err = q.C.QueryRow(ctx, `SELECT data FROM tuf_metadata WHERE repo = $1 AND role = $2 ORDER BY version DESC LIMIT 1`,
			repo, role).Scan(&data)
	} else {
		err = q.C.QueryRow(ctx, `SELECT data FROM tuf_metadata WHERE repo = $1 AND role = $2 AND version = $3`,
			repo, role, version).Scan(&data)
	}
	if err != nil {
		return nil, q.fail(fmt.Sprintf("tuf metadata %s %s v%d", repo, role, version), err)
	}
	return data, nil
}

// TUFMetadataDigests implements store.TUFReader: one query per
// maxBatch versions, its condition padded to a power of two of them (see
// padded) so that its text, and the plan a driver caches for it, repeat.
func (q *Queries) TUFMetadataDigests(ctx context.Context, refs []store.TUFRef) (map[store.TUFRef]string, error) {
	want := slices.Clone(refs)
	slices.SortFunc(want, func(a, b store.TUFRef) int {
		return cmp.Or(strings.Compare(a.Repo, b.Repo), strings.Compare(a.Role, b.Role), cmp.Compare(a.Version, b.Version))
	})
	want = slices.Compact(want)
	out := make(map[store.TUFRef]string, len(want))
	err := chunks(want, func(part []store.TUFRef) error {
		padded := padded(part)
		conds := make([]string, len(padded))
		args := make([]any, 0, 3*len(padded))
		for i, v := range padded {
			r := v.(store.TUFRef)
			conds[i] = fmt.Sprintf("(repo = $%d AND role = $%d AND version = $%d)", len(args)+1, len(args)+2, len(args)+3)
			args = append(args, r.Repo, r.Role, r.Version)
		}
		rows, err := q.C.Query(ctx, `SELECT repo, role, version, sha256 FROM tuf_metadata WHERE `+strings.Join(conds, " OR "), args...)
		if err != nil {
			return err
		}
		return scanAll(rows, func(r Rows) error {
			var (
				ref store.TUFRef
				sum string
			)
			err := r.Scan(&ref.Repo, &ref.Role, &ref.Version, &sum)
			out[ref] = sum
			return err
		})
	})
	if err != nil {
		return nil, q.fail("tuf metadata digests", err)
	}
	return out, nil
}

// TUFPending implements store.TUFReader.
func (q *Queries) TUFPending(ctx context.Context, repo string) ([]store.TUFPending, error) {
	rows, err := q.C.Query(ctx, `SELECT role, version, digest, data FROM tuf_pending WHERE repo = $1 ORDER BY role, version, digest`, repo)
	if err != nil {
		return nil, q.fail("tuf pending "+repo, err)
	}
	var out []store.TUFPending
	err = scanAll(rows, func(r Rows) error {
		var p store.TUFPending
		err := r.Scan(&p.Role, &p.Version, &p.Digest, &p.Data)
		out = append(out, p)
		return err
	})
	if err != nil {
		return nil, q.fail("tuf pending "+repo, err)
	}
	return out, nil
}

// TUFRepos implements store.TUFReader.
func (q *Queries) TUFRepos(ctx context.Context) ([]string, error) {
	rows, err := q.C.Query(ctx, `SELECT repo FROM tuf_metadata WHERE role = 'root' AND version = 1 ORDER BY repo`)
	if err != nil {
		return nil, q.fail("tuf repositories", err)
	}
	var out []string
	err = scanAll(rows, func(r Rows) error {
		var name string
		err := r.Scan(&name)
		out = append(out, name)
		return err
	})
	if err != nil {
		return nil, q.fail("tuf repositories", err)
	}
	return out, nil
}

// PublishTUF implements store.TUFWriter: one multi-row INSERT whose primary
// key rejects a version that exists.
func (q *Queries) PublishTUF(ctx context.Context, repo string, files []store.TUFFile) error {
	if len(files) == 0 {
		return nil
	}
	r := rows{head: `INSERT INTO tuf_metadata (repo, role, version, data, sha256, published_at) VALUES `, row: "(?, ?, ?, ?, ?, ?)"}
	now := Now()
	for _, f := range files {
		if err := checkTUFName("publish tuf", repo, f.Role, f.Version); err != nil {
			return err
		}
		if f.Version == 0 || len(f.Data) == 0 {
			return fmt.Errorf("store: publish tuf %s %s: %w: a version and data are required", repo, f.Role, store.ErrInvalid)
		}
		r.add(repo, f.Role, f.Version, f.Data, sha256Hex(f.Data), now)
	}
	if err := q.C.ExecBatch(ctx, r.stmts()); err != nil {
		return q.fail("publish tuf "+repo, err)
	}
	return nil
}

// PutTUFPending implements store.TUFWriter.
func (q *Queries) PutTUFPending(ctx context.Context, repo string, p store.TUFPending, expect []byte) error {
	if err := checkTUFName("put tuf pending", repo, p.Role, p.Version); err != nil {
		return err
	}
	if p.Version == 0 || len(p.Data) == 0 || p.Digest == "" {
		return fmt.Errorf("store: put tuf pending %s %s: %w: a version, a digest and data are required", repo, p.Role, store.ErrInvalid)
	}
	op := fmt.Sprintf("put tuf pending %s %s v%d %s", repo, p.Role, p.Version, p.Digest)
	if expect == nil {
		err := q.C.Exec(ctx, `INSERT INTO tuf_pending (repo, role, version, digest, data, sha256, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			repo, p.Role, p.Version, p.Digest, p.Data, sha256Hex(p.Data), Now())
		if err != nil {
			return q.fail(op, err)
		}
		return nil
	}
	var v int64
	err := q.C.QueryRow(ctx, `UPDATE tuf_pending SET digest = $1, data = $2, sha256 = $3, updated_at = $4
		WHERE repo = $5 AND role = $6 AND version = $7 AND (digest = $8 OR digest = '') AND sha256 = $9 RETURNING version`,
		p.Digest, p.Data, sha256Hex(p.Data), Now(), repo, p.Role, p.Version, p.Digest, sha256Hex(expect)).Scan(&v)
	if err != nil {
		err = q.D.MapError(err)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("store: %s: %w: the stored proposal changed meanwhile", op, store.ErrConflict)
		}
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return nil
}

// DropTUFPending implements store.TUFWriter.
func (q *Queries) DropTUFPending(ctx context.Context, repo, role string, version int64) error {
	if err := q.C.Exec(ctx, `DELETE FROM tuf_pending WHERE repo = $1 AND role = $2 AND version = $3`, repo, role, version); err != nil {
		return q.fail(fmt.Sprintf("drop tuf pending %s %s v%d", repo, role, version), err)
	}
	return nil
}
