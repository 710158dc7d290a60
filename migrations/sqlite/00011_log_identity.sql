-- +goose Up
-- The verifier key of the log's checkpoints, recorded at the first start
-- (one row). Replicas sharing the database compare their log key with it
-- at start and refuse to serve on a mismatch, so no replica signs
-- checkpoints with a key clients do not know.
CREATE TABLE log_identity (
    id           INTEGER   PRIMARY KEY CHECK (id = 1),
    verifier_key TEXT      NOT NULL,
    recorded_at  TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE log_identity;
