-- +goose Up
-- Several proposals may be pending for one role and version, each keyed by
-- its signed digest (hex SHA-256 of the canonical JSON of the signed part),
-- so no single key holder's proposal can block another's. Rows written
-- before this migration keep an empty digest; trustd computes it when it
-- reads them and stores it at their next update. SQLite cannot change a
-- primary key in place, so the table is rebuilt.
CREATE TABLE tuf_pending_new (
    repo       TEXT        NOT NULL,
    role       TEXT        NOT NULL,
    version    BIGINT      NOT NULL,
    digest     TEXT        NOT NULL DEFAULT '',
    data       BLOB       NOT NULL,
    sha256     TEXT        NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (repo, role, version, digest),
    CHECK (version > 0)
);
INSERT INTO tuf_pending_new (repo, role, version, data, sha256, updated_at)
    SELECT repo, role, version, data, sha256, updated_at FROM tuf_pending;
DROP TABLE tuf_pending;
ALTER TABLE tuf_pending_new RENAME TO tuf_pending;

-- +goose Down
CREATE TABLE tuf_pending_old (
    repo       TEXT        NOT NULL,
    role       TEXT        NOT NULL,
    version    BIGINT      NOT NULL,
    data       BLOB       NOT NULL,
    sha256     TEXT        NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (repo, role, version),
    CHECK (version > 0)
);
INSERT OR IGNORE INTO tuf_pending_old (repo, role, version, data, sha256, updated_at)
    SELECT repo, role, version, data, sha256, updated_at FROM tuf_pending ORDER BY digest;
DROP TABLE tuf_pending;
ALTER TABLE tuf_pending_old RENAME TO tuf_pending;
