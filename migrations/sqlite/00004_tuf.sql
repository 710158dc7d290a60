-- +goose Up
-- Published TUF metadata, kept verbatim and append-only. The primary key
-- (repo, role, version) is the compare-and-swap of a publish: two
-- concurrent publishes both write the next timestamp (or root) version, so
-- only one can commit. Each file is also a statement log entry whose
-- envelope_digest is 'sha256:' || sha256.
CREATE TABLE tuf_metadata (
    repo         TEXT        NOT NULL,
    role         TEXT        NOT NULL,
    version      BIGINT      NOT NULL,
    data         BLOB       NOT NULL,
    sha256       TEXT        NOT NULL,
    published_at TIMESTAMP NOT NULL,
    PRIMARY KEY (repo, role, version),
    CHECK (version > 0)
);

-- Proposals collecting signatures: one per (repo, role, version), replaced
-- under a compare-and-swap on sha256 as signatures are added, deleted when
-- published or superseded.
CREATE TABLE tuf_pending (
    repo       TEXT        NOT NULL,
    role       TEXT        NOT NULL,
    version    BIGINT      NOT NULL,
    data       BLOB       NOT NULL,
    sha256     TEXT        NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (repo, role, version),
    CHECK (version > 0)
);

-- +goose Down
DROP TABLE tuf_pending;
DROP TABLE tuf_metadata;
