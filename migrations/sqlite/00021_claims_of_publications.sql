-- +goose Up
-- Anyone may log statements whose subject lists someone's digest beside
-- another, so the alias claims naming a digest are as many as strangers
-- like. published marks the rows of such subjects whose entry is a
-- publication (TUF metadata tufstore published, an OpenPGP manifest
-- pgplog published: recordtype.Publication), and the partial index now
-- orders a digest's claims the way readers take them, publications
-- first, then oldest: a lookup reads the claims it shows and no more,
-- and reputation, locations and publishers read only the publications'
-- claims and those of keys they name.
ALTER TABLE statement_subjects ADD COLUMN published BOOLEAN NOT NULL DEFAULT 0;
UPDATE statement_subjects SET published = 1 WHERE aliased AND seq IN (SELECT seq FROM statements
    WHERE (payload_type = 'application/vnd.tuf+json' AND predicate_type = 'https://trustd.dev/tuf/metadata/v1')
       OR (payload_type = 'application/vnd.trustd.pgp-manifest+json' AND predicate_type = 'https://trustd.dev/pgp/manifest/v1'));
DROP INDEX statement_subjects_aliased;
CREATE INDEX statement_subjects_aliased ON statement_subjects (algorithm, value, published DESC, seq) WHERE aliased;

-- +goose Down
DROP INDEX statement_subjects_aliased;
CREATE INDEX statement_subjects_aliased ON statement_subjects (algorithm, value) WHERE aliased;
ALTER TABLE statement_subjects DROP COLUMN published;
