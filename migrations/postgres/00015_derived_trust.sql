-- +goose Up
-- The web of trust as derived state, versioned by log sequence: one row per
-- trust statement, current from its own entry (seq) until the entry that
-- superseded it (superseded_at_seq; NULL while current). A statement that
-- never superseded the one standing (signed earlier) has superseded_at_seq
-- = seq: it was never current. "Which edges stood after log entry N" is
-- seq <= N AND (superseded_at_seq IS NULL OR superseded_at_seq > N).
-- Written by the feedback indexer in the append's transaction; entries
-- logged before this migration are replayed at start (derived_backfill).
CREATE TABLE trust_edge_versions (
    seq               BIGINT      PRIMARY KEY REFERENCES statements (seq),
    truster_key_id    TEXT        NOT NULL,
    trustee_key_id    TEXT        NOT NULL,
    level             SMALLINT    NOT NULL,
    stated_at         TIMESTAMPTZ NOT NULL,
    superseded_at_seq BIGINT,
    CHECK (level BETWEEN -1 AND 3)
);
CREATE INDEX trust_edge_versions_pair ON trust_edge_versions (truster_key_id, trustee_key_id);

-- What changed in the current web since log entry N (a compiled graph's
-- refresh reads only that).
CREATE INDEX trust_edges_seq ON trust_edges (seq);

-- Identity binding statements (recordtype.IdentityBinding),
-- well formed and genuine, one row per side that signed it: the bound key
-- (signer = key_id) or the Sigstore identity (signer = identity). Whether
-- a key is verified is judged when read (revocations in force, the
-- identity's newest binding); this only saves re-reading and re-parsing.
CREATE TABLE identity_bindings (
    signer      TEXT        NOT NULL,
    seq         BIGINT      NOT NULL REFERENCES statements (seq),
    key_id      TEXT        NOT NULL,
    identity    TEXT        NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (signer, seq)
);

-- Derived tables whose entries logged before they existed are still to be
-- replayed from the log: every entry up to through_seq (0: done).
CREATE TABLE derived_backfill (
    name        TEXT   PRIMARY KEY,
    through_seq BIGINT NOT NULL
);
INSERT INTO derived_backfill (name, through_seq)
    SELECT 'trust_edge_versions', COALESCE(MAX(seq), 0) FROM statements;
INSERT INTO derived_backfill (name, through_seq)
    SELECT 'identity_bindings', COALESCE(MAX(seq), 0) FROM statements;

-- +goose Down
DROP TABLE derived_backfill;
DROP TABLE identity_bindings;
DROP INDEX trust_edges_seq;
DROP TABLE trust_edge_versions;
