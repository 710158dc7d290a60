-- +goose Up
-- What each signer signed, apart from how the bytes were encoded: the
-- SHA-256 of the DSSE pre-authentication encoding of an entry's payload
-- (envelope.PAEDigest), for entries a caller signed in DSSE (envelopes
-- and Sigstore bundles). Re-encoding an envelope (whitespace, the other
-- base64 alphabet, another signature added or a malleable one rewritten)
-- keeps its signatures valid but not its bytes; keyed on this, a
-- signer's payload is logged once (store.Statement.SignedDigest), so a
-- copy can neither bring back a revoked entry nor spend its signer's
-- quota. NULL: an entry of another format, or one logged before this
-- migration and not yet backfilled (derived_backfill 'signed_digests').
ALTER TABLE statement_signers ADD COLUMN signed_digest TEXT;
CREATE UNIQUE INDEX statement_signers_signed ON statement_signers (signed_digest, key_id) WHERE signed_digest IS NOT NULL;
INSERT INTO derived_backfill (name, through_seq)
    SELECT 'signed_digests', COALESCE(MAX(seq), 0) FROM statements;

-- +goose Down
DELETE FROM derived_backfill WHERE name = 'signed_digests';
DROP INDEX statement_signers_signed;
ALTER TABLE statement_signers DROP COLUMN signed_digest;
