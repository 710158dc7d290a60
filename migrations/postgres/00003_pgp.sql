-- +goose Up
-- Every key of every registered OpenPGP certificate, the primary key
-- included (under itself), so that a signature's issuer fingerprint (often a
-- signing subkey's) or, lacking one, its 64-bit key id resolves to the
-- certificate's primary fingerprint, which is the registry key id. Filled in
-- the transaction that registers the certificate.
CREATE TABLE pgp_subkeys (
    fingerprint         TEXT PRIMARY KEY,
    key_id              TEXT NOT NULL,
    primary_fingerprint TEXT NOT NULL REFERENCES keys (id)
);
CREATE INDEX pgp_subkeys_key_id ON pgp_subkeys (key_id);
CREATE INDEX pgp_subkeys_primary ON pgp_subkeys (primary_fingerprint);

-- Listing the log by predicate type (OpenPGP delegations, rotations and
-- revocations feed the chain verifier).
CREATE INDEX statements_predicate ON statements (predicate_type, seq);

-- +goose Down
DROP INDEX statements_predicate;
DROP TABLE pgp_subkeys;
