-- +goose Up
-- Several proposals may be pending for one role and version, each keyed by
-- its signed digest (hex SHA-256 of the canonical JSON of the signed part),
-- so no single key holder's proposal can block another's. Rows written
-- before this migration keep an empty digest; trustd computes it when it
-- reads them and stores it at their next update.
ALTER TABLE tuf_pending ADD COLUMN digest TEXT NOT NULL DEFAULT '';
ALTER TABLE tuf_pending DROP CONSTRAINT tuf_pending_pkey;
ALTER TABLE tuf_pending ADD PRIMARY KEY (repo, role, version, digest);

-- +goose Down
DELETE FROM tuf_pending p WHERE EXISTS (
    SELECT 1 FROM tuf_pending q
    WHERE q.repo = p.repo AND q.role = p.role AND q.version = p.version AND q.digest < p.digest);
ALTER TABLE tuf_pending DROP CONSTRAINT tuf_pending_pkey;
ALTER TABLE tuf_pending ADD PRIMARY KEY (repo, role, version);
ALTER TABLE tuf_pending DROP COLUMN digest;
