-- +goose Up
CREATE TABLE subjects (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL
);

-- Every digest belongs to exactly one subject. Digests are stored as the
-- algorithm name and the lowercase hex value (the OCI form split in two).
CREATE TABLE digests (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    algorithm  TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    subject_id BIGINT NOT NULL REFERENCES subjects (id),
    UNIQUE (algorithm, value)
);
CREATE INDEX digests_subject ON digests (subject_id, id);

CREATE TABLE keys (
    id         TEXT        PRIMARY KEY,
    type       TEXT        NOT NULL,
    public_key BYTEA       NOT NULL,
    label      TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);

-- The append-only log of accepted signed statements. seq is gapless: it is
-- assigned under a transaction-scoped advisory lock, not from a sequence.
CREATE TABLE statements (
    seq             BIGINT      PRIMARY KEY,
    envelope_digest TEXT        NOT NULL UNIQUE,
    payload_type    TEXT        NOT NULL,
    predicate_type  TEXT        NOT NULL DEFAULT '',
    envelope        BYTEA       NOT NULL,
    payload         BYTEA       NOT NULL,
    signer_key_ids  TEXT        NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL
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
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source        TEXT        NOT NULL,
    reference     TEXT        NOT NULL,
    statement_seq BIGINT      REFERENCES statements (seq),
    signer_key_ids TEXT       NOT NULL,
    claimed_at    TIMESTAMPTZ NOT NULL,
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
