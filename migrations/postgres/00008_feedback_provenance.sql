-- +goose Up
-- Imported feedback's provenance names only what the importer verified:
-- the exporting log's note verifier key and the checkpoint signed by it
-- (tree size, root hash) in which the entry was proven included, never an
-- origin name taken from the export file. Rows recorded before named
-- whatever origin and key the file claimed, unverified; they are dropped
-- (the entries themselves stay: each was verified signature by signature).
-- The key, not a name, tells logs apart: every trustd's log is called
-- trustd-log unless configured otherwise.
DROP TABLE feedback_provenance;
CREATE TABLE feedback_provenance (
    seq             BIGINT      NOT NULL REFERENCES statements (seq),
    verifier_key    TEXT        NOT NULL,
    checkpoint_size BIGINT      NOT NULL,
    checkpoint_hash BYTEA       NOT NULL,
    source_seq      BIGINT      NOT NULL,
    imported_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (seq, verifier_key)
);

-- +goose Down
DROP TABLE feedback_provenance;
CREATE TABLE feedback_provenance (
    seq          BIGINT      NOT NULL REFERENCES statements (seq),
    origin       TEXT        NOT NULL,
    verifier_key TEXT        NOT NULL,
    source_seq   BIGINT      NOT NULL,
    imported_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (seq, origin)
);
