package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/trustd-dev/trustd/store"
)

// LogVerifierKey implements store.Reader.
func (q *Queries) LogVerifierKey(ctx context.Context) (string, error) {
	var key string
	if err := q.C.QueryRow(ctx, `SELECT verifier_key FROM log_identity WHERE id = 1`).Scan(&key); err != nil {
		return "", q.fail("log verifier key", err)
	}
	return key, nil
}

// SetLogVerifierKey implements store.Writer.
func (q *Queries) SetLogVerifierKey(ctx context.Context, key, expect string) error {
	if key == "" {
		return fmt.Errorf("store: set log verifier key: %w: empty key", store.ErrInvalid)
	}
	current, err := q.LogVerifierKey(ctx)
	switch {
	case err == nil && current == key:
		return nil
	case err == nil && current != expect:
		return fmt.Errorf("store: set log verifier key: %w: the recorded key is %q, not %q", store.ErrConflict, current, expect)
	case err == nil:
		var id int
		if err := q.C.QueryRow(ctx, `UPDATE log_identity SET verifier_key = $1, recorded_at = $2 WHERE id = 1 AND verifier_key = $3 RETURNING id`,
			key, Now(), expect).Scan(&id); err != nil {
			if errors.Is(q.D.MapError(err), store.ErrNotFound) {
				return fmt.Errorf("store: set log verifier key: %w: the recorded key changed meanwhile", store.ErrConflict)
			}
			return q.fail("set log verifier key", err)
		}
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return err
	case expect != "":
		return fmt.Errorf("store: set log verifier key: %w: no key is recorded, not %q", store.ErrConflict, expect)
	}
	if err := q.C.Exec(ctx, `INSERT INTO log_identity (id, verifier_key, recorded_at) VALUES (1, $1, $2)`, key, Now()); err != nil {
		return q.fail("record log verifier key", err)
	}
	return nil
}
