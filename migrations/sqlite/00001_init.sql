-- +goose Up
CREATE TABLE subjects (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TIMESTAMP NOT NULL
);

-- Every digest belongs to exactly one subject. Digests are stored as the
-- algorithm name and the lowercase hex value (the OCI form split in two).
CREATE TABLE digests (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    algorithm  TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    subject_id BIGINT NOT NULL REFERENCES subjects (id),
    UNIQUE (algorithm, value)
);
CREATE INDEX digests_subject ON digests (subject_id, id);

CREATE TABLE keys (
    id         TEXT        PRIMARY KEY,
    type       TEXT        NOT NULL,
    public_key BLOB       NOT NULL,
    label      TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);

-- The append-only log of accepted signed statements. seq is gapless: it is
-- assigned inside the write transaction, which SQLite serialises.
CREATE TABLE statements (
    seq             BIGINT      PRIMARY KEY,
    envelope_digest TEXT        NOT NULL UNIQUE,
    payload_type    TEXT        NOT NULL,
    predicate_type  TEXT        NOT NULL DEFAULT '',
    envelope        BLOB       NOT NULL,
    payload         BLOB       NOT NULL,
    signer_key_ids  TEXT        NOT NULL,
    recorded_at     TIMESTAMP NOT NULL
);

-- One row per digest of each in-toto subject of a statement.
CREATE TABLE statement_subjects (
    seq           BIGINT  NOT NULL REFERENCES statements (seq),
    subject_index INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    algorithm     TEXT    NOT NULL,
    value         TEXT    NOT NULL,
    PRIMARY KEY (seq, subject_index, algorithm),
    FOREIGN KEY (algorithm, value) REFERENCES digests (algorithm, value)
);
CREATE INDEX statement_subjects_digest ON statement_subjects (algorithm, value, seq);

CREATE TABLE alias_claims (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    source        TEXT        NOT NULL,
    reference     TEXT        NOT NULL,
    statement_seq BIGINT      REFERENCES statements (seq),
    signer_key_ids TEXT       NOT NULL,
    claimed_at    TIMESTAMP NOT NULL,
    UNIQUE (source, reference)
);

CREATE TABLE alias_claim_digests (
    claim_id  BIGINT NOT NULL REFERENCES alias_claims (id),
    position  INTEGER NOT NULL,
    algorithm TEXT   NOT NULL,
    value     TEXT   NOT NULL,
    PRIMARY KEY (claim_id, position),
    FOREIGN KEY (algorithm, value) REFERENCES digests (algorithm, value)
);
CREATE INDEX alias_claim_digests_digest ON alias_claim_digests (algorithm, value);

-- +goose Down
DROP TABLE alias_claim_digests;
DROP TABLE alias_claims;
DROP TABLE statement_subjects;
DROP TABLE statements;
DROP TABLE keys;
DROP TABLE digests;
DROP TABLE subjects;
