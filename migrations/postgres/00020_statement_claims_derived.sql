-- +goose Up
-- A statement's alias claim is its subject: the statement_subjects rows
-- of a subject with several digests, signed by the entry's signers and
-- recorded with it. Reads build the claim from those rows
-- (sqlstore.statementClaims), so an append no longer copies it into
-- alias_claims and alias_claim_digests: three rows and six index entries
-- an entry with a two-digest subject, with the lock on the log entry its
-- foreign key took. aliased marks the rows of such subjects, and a
-- partial index holds only those: a digest's claims are found without
-- reading every statement naming it (thousands of one-digest votes on a
-- popular artifact). The copies go; claims of other sources stay.
ALTER TABLE statement_subjects ADD COLUMN aliased BOOLEAN NOT NULL DEFAULT false;
UPDATE statement_subjects SET aliased = true WHERE (seq, subject_index) IN
    (SELECT seq, subject_index FROM statement_subjects GROUP BY seq, subject_index HAVING COUNT(*) > 1);
CREATE INDEX statement_subjects_aliased ON statement_subjects (algorithm, value) WHERE aliased;
DELETE FROM alias_claim_digests WHERE claim_id IN (SELECT id FROM alias_claims WHERE source = 'statement');
DELETE FROM alias_claims WHERE source = 'statement';

-- +goose Down
INSERT INTO alias_claims (source, reference, statement_seq, signer_key_ids, claimed_at)
    SELECT 'statement', ss.seq || '/' || ss.subject_index, ss.seq, st.signer_key_ids, st.recorded_at
    FROM statement_subjects ss JOIN statements st ON st.seq = ss.seq
    WHERE ss.aliased
    GROUP BY ss.seq, ss.subject_index, st.signer_key_ids, st.recorded_at
    ORDER BY ss.seq, ss.subject_index;
INSERT INTO alias_claim_digests (claim_id, position, algorithm, value)
    SELECT c.id, ROW_NUMBER() OVER (PARTITION BY c.id ORDER BY ss.algorithm) - 1, ss.algorithm, ss.value
    FROM alias_claims c JOIN statement_subjects ss ON c.reference = ss.seq || '/' || ss.subject_index
    WHERE c.source = 'statement';
DROP INDEX statement_subjects_aliased;
ALTER TABLE statement_subjects DROP COLUMN aliased;
