-- +goose Up
-- The location index: where the artifacts named by location claims
-- (https://trustd.dev/location/v1) can be fetched, one row per digest of
-- the claim's subject, written by the location indexer in the transaction
-- that appends the claim. A location is evidence of where to look, never
-- of trust; whether it is offered (revoked or not, authoritative or a
-- mirror) is judged when it is read.
CREATE TABLE locations (
    seq       BIGINT NOT NULL REFERENCES statements (seq),
    algorithm TEXT   NOT NULL,
    value     TEXT   NOT NULL,
    uri       TEXT   NOT NULL,
    key_id    TEXT   NOT NULL,
    PRIMARY KEY (seq, algorithm, value)
);
-- "where is this digest", and the per-digest cap.
CREATE INDEX locations_digest ON locations (algorithm, value, seq);
-- "what does this key hold" (content two vendors share).
CREATE INDEX locations_key ON locations (key_id, algorithm, value);

-- +goose Down
DROP TABLE locations;
