-- +goose Up
-- Other ids a registered key is known by (issue 15): in-toto names a key by
-- the id securesystemslib/in-toto compute (the hash of the key with its
-- keyid_hash_algorithms), while trustd registers it under its TUF key id
-- (without them). Both resolve to the one key; keys.id stays its primary
-- id, which everything trustd stores names. An alias names one key only.
-- Keys registered before this migration get their aliases when registered
-- again (trustctl key add of the same key).
CREATE TABLE key_aliases (
    alias  TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES keys (id)
);
CREATE INDEX key_aliases_key ON key_aliases (key_id);

-- +goose Down
DROP TABLE key_aliases;
