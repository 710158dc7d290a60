package sqlstore

import (
	"context"
	"fmt"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

// The location index (locations): where location claims say artifacts can
// be fetched, one row per (claim, digest).

// Locations implements store.LocationReader.
func (q *Queries) Locations(ctx context.Context, ds []digest.Digest, limit int) ([]store.Location, error) {
	if len(ds) == 0 || limit <= 0 {
		return nil, nil
	}
	where, args := digestIn("algorithm", "value", ds, 0)
	args = append(args, limit)
	rows, err := q.C.Query(ctx, fmt.Sprintf(`SELECT seq, algorithm, value, uri, key_id FROM locations WHERE %s
		ORDER BY seq, algorithm, value LIMIT $%d`, where, len(args)), args...)
	if err != nil {
		return nil, q.fail("locations of "+ds[0].String(), err)
	}
	var out []store.Location
	err = scanAll(rows, func(r Rows) error {
		var l store.Location
		var alg, value string
		if err := r.Scan(&l.Seq, &alg, &value, &l.URI, &l.KeyID); err != nil {
			return err
		}
		d, err := digest.Parse(alg + ":" + value)
		if err != nil {
			return fmt.Errorf("stored digest: %w", err)
		}
		l.Digest = d
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, q.fail("locations of "+ds[0].String(), err)
	}
	return out, nil
}

// LocationCount implements store.LocationReader.
func (q *Queries) LocationCount(ctx context.Context, d digest.Digest) (int64, error) {
	var n int64
	err := q.C.QueryRow(ctx, `SELECT COUNT(*) FROM locations WHERE algorithm = $1 AND value = $2`,
		string(d.Algorithm()), d.Hex()).Scan(&n)
	if err != nil {
		return 0, q.fail("locations of "+d.String(), err)
	}
	return n, nil
}

// SharedLocations implements store.LocationReader.
func (q *Queries) SharedLocations(ctx context.Context, keyA, keyB string, after digest.Digest, limit int) ([]digest.Digest, error) {
	if limit <= 0 {
		return nil, nil
	}
	alg, value := "", ""
	if !after.IsZero() {
		alg, value = string(after.Algorithm()), after.Hex()
	}
	rows, err := q.C.Query(ctx, `SELECT DISTINCT a.algorithm, a.value FROM locations a
		JOIN locations b ON b.algorithm = a.algorithm AND b.value = a.value AND b.key_id = $2
		WHERE a.key_id = $1 AND (a.algorithm > $3 OR (a.algorithm = $3 AND a.value > $4))
		ORDER BY a.algorithm, a.value LIMIT $5`, keyA, keyB, alg, value, limit)
	if err != nil {
		return nil, q.fail("locations shared by "+keyA+" and "+keyB, err)
	}
	ds, err := scanDigests(rows)
	if err != nil {
		return nil, q.fail("locations shared by "+keyA+" and "+keyB, err)
	}
	return ds, nil
}

// PutLocation implements store.LocationWriter.
func (q *Queries) PutLocation(ctx context.Context, l store.Location) error {
	if l.Seq <= 0 || l.Digest.IsZero() || l.URI == "" || l.KeyID == "" {
		return fmt.Errorf("store: put location: %w: entry, digest, uri and key id are required", store.ErrInvalid)
	}
	err := q.C.Exec(ctx, `INSERT INTO locations (seq, algorithm, value, uri, key_id) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (seq, algorithm, value) DO NOTHING`, l.Seq, string(l.Digest.Algorithm()), l.Digest.Hex(), l.URI, l.KeyID)
	if err != nil {
		return q.invalidRef(fmt.Sprintf("put location %d", l.Seq), err)
	}
	return nil
}
