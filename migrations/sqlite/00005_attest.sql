-- +goose Up
-- The attestation index: what trustd reads from the predicates it
-- understands (SLSA provenance v0.2/v1, SPDX and CycloneDX SBOMs, SLSA
-- VSAs), one row per log entry, written by the predicate type's indexer in
-- the transaction that appends the entry. Entries of other predicate types
-- have no row: they are stored opaquely.
CREATE TABLE attestations (
    seq                 BIGINT PRIMARY KEY REFERENCES statements (seq),
    builder_id          TEXT NOT NULL DEFAULT '',
    build_type          TEXT NOT NULL DEFAULT '',
    source_repository   TEXT NOT NULL DEFAULT '',
    source_ref          TEXT NOT NULL DEFAULT '',
    document_name       TEXT NOT NULL DEFAULT '',
    document_version    TEXT NOT NULL DEFAULT '',
    verifier_id         TEXT NOT NULL DEFAULT '',
    verification_result TEXT NOT NULL DEFAULT ''
);
-- "built by builder X from repository Y".
CREATE INDEX attestations_builder ON attestations (builder_id, source_repository, seq);

-- in-toto links (log entries) submitted for the steps of an in-toto layout
-- (a log entry), with the functionary key that signed each.
CREATE TABLE layout_links (
    layout_seq BIGINT NOT NULL REFERENCES statements (seq),
    step       TEXT   NOT NULL,
    seq        BIGINT NOT NULL REFERENCES statements (seq),
    key_id     TEXT   NOT NULL,
    PRIMARY KEY (layout_seq, step, seq)
);

-- +goose Down
DROP TABLE layout_links;
DROP TABLE attestations;
