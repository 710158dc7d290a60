package postgres

import (
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/internal/sqlstore"
)

var (
	_ sqlstore.TipChecker   = dialect{}
	_ sqlstore.NodeInserter = dialect{}
)

// serializationFailure is the SQLSTATE of a check that found the log
// moved since an append planned against its tip (trustd_assert raises it):
// a retry that reads the log again succeeds.
const serializationFailure = "40001"

// planLockTimeout bounds each lock wait of an append planned against a
// tip from its writes on: for its turn and the log lock, which a writer
// holding the lock may hold while it waits for the planned append's rows
// (another replica's append, reading under the lock, that logs one of the
// same digests), and for rows another planned append wrote first, which
// that one may hold while it waits for the planned append's own. Past it
// the planned append gives up with ErrConflict and the batcher retries it
// under the lock, where PostgreSQL's deadlock check would fail one of the
// two a second later with an error no caller can retry. An append before
// it on this replica commits in a few milliseconds.
const planLockTimeout = "100ms"

// BoundWaitsStmt sets planLockTimeout for the rest of the transaction.
func (dialect) BoundWaitsStmt() sqlstore.Stmt {
	return sqlstore.Stmt{SQL: `SELECT set_config('lock_timeout', $1, true)`, Args: []any{planLockTimeout}}
}

// turnKey is the advisory lock of the turn of an append planned against a
// tip whose next entry is next: held from its first round trip to its
// end, so the append planned after it, its rows written, waits for it
// before it takes the log lock.
func turnKey(next int64) int64 { return turnKeys | next&(1<<48-1) }

// turnKeys are the 2^48 advisory lock keys of turns, apart from
// logLockKey.
const turnKeys = 0x7475 << 48

// ReadsStmt plans the reads that follow as LockLogStmt does, without the
// log lock, and takes the append's turn.
func (dialect) ReadsStmt(tip store.LogTip) sqlstore.Stmt {
	return sqlstore.Stmt{SQL: `SELECT ` + customPlans + `, pg_advisory_xact_lock($1)`,
		Args: []any{turnKey(tip.Next)}}
}

// LockAndCheckStmts wait for the turn of the append before (tip.After),
// take the log lock, then check, in a statement that sees every append
// committed before the lock was granted, that the entries before
// tip.Next are all stored (the append's own, from tip.Next, have a
// primary key that no other append's can share) and that the stored right
// edge of the tree is tip.Edge. Each node is a correlated scalar subquery, so a primary-key
// probe whatever the plan: a join with the unnest, even LATERAL, is pulled
// up, and its generic plan scanned log_nodes (3 ms a batch).
func (dialect) LockAndCheckStmts(tip store.LogTip) []sqlstore.Stmt {
	levels, idxs, hashes := nodeColumns(tip.Edge)
	var stmts []sqlstore.Stmt
	if tip.After != 0 {
		stmts = append(stmts, sqlstore.Stmt{SQL: `SELECT pg_advisory_xact_lock($1)`, Args: []any{turnKey(tip.After)}})
	}
	return append(stmts, []sqlstore.Stmt{
		{SQL: `SELECT pg_advisory_xact_lock($1)`, Args: []any{int64(logLockKey)}},
		{SQL: `SELECT trustd_assert(
				(SELECT COALESCE(MAX(seq), 0) + 1 FROM statements WHERE seq < $1) = $1
				AND NOT EXISTS (SELECT FROM unnest($2::integer[], $3::bigint[], $4::bytea[]) AS e (level, idx, hash)
					WHERE (SELECT n.hash FROM log_nodes n WHERE n.level = e.level AND n.idx = e.idx) IS DISTINCT FROM e.hash),
				'` + serializationFailure + `', format('the log moved since the append was planned at its entry %s', $1))`,
			Args: []any{tip.Next, levels, idxs, hashes}},
	}...)
}

// PutLogNodesStmt inserts nodes; one already stored is left as it is
// (rewritten with its own hash) when its hash is the same, and fails the
// insert with a unique violation when not.
func (dialect) PutLogNodesStmt(nodes []store.LogNode) sqlstore.Stmt {
	levels, idxs, hashes := nodeColumns(nodes)
	return sqlstore.Stmt{SQL: `INSERT INTO log_nodes (level, idx, hash) SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[])
		ON CONFLICT (level, idx) DO UPDATE SET hash = log_nodes.hash
		WHERE trustd_assert(log_nodes.hash = EXCLUDED.hash, '` + uniqueViolation + `',
			format('log node level %s index %s is stored with another hash', log_nodes.level, log_nodes.idx))`,
		Args: []any{levels, idxs, hashes}}
}

// nodeColumns returns nodes as the arrays of their columns.
func nodeColumns(nodes []store.LogNode) ([]int32, []int64, [][]byte) {
	levels := make([]int32, len(nodes))
	idxs := make([]int64, len(nodes))
	hashes := make([][]byte, len(nodes))
	for i, n := range nodes {
		levels[i], idxs[i], hashes[i] = int32(n.ID.Level), int64(n.ID.Index), n.Hash
	}
	return levels, idxs, hashes
}
