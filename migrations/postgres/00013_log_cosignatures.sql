-- +goose Up
-- Witness cosignatures (C2SP tlog-cosignature) of the log's checkpoints,
-- one per witness and tree size, as the witness returned them to
-- add-checkpoint (C2SP tlog-witness) and trustd verified them. They are
-- served as extra signature lines on the checkpoint of that size.
CREATE TABLE log_cosignatures (
    witness_key TEXT   NOT NULL,
    tree_size   BIGINT NOT NULL,
    root_hash   BYTEA  NOT NULL,
    line        TEXT   NOT NULL,
    signed_at   TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (witness_key, tree_size)
);
CREATE INDEX log_cosignatures_size ON log_cosignatures (tree_size);

-- +goose Down
DROP TABLE log_cosignatures;
