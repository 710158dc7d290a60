-- +goose Up
-- A statement's alias claim is its subject: every statement_subjects row
-- of a subject with several digests, signed by the entry's signers and
-- recorded with it. Reads build the claim from those rows
-- (sqlstore.statementClaims), so an append no longer copies it into
-- alias_claims and alias_claim_digests: three rows and six index entries
-- an entry with a two-digest subject, with the lock on the log entry its
-- foreign key took. The copies go; claims of other sources stay.
DELETE FROM alias_claim_digests WHERE claim_id IN (SELECT id FROM alias_claims WHERE source = 'statement');
DELETE FROM alias_claims WHERE source = 'statement';

-- +goose Down
INSERT INTO alias_claims (source, reference, statement_seq, signer_key_ids, claimed_at)
    SELECT 'statement', ss.seq || '/' || ss.subject_index, ss.seq, st.signer_key_ids, st.recorded_at
    FROM statement_subjects ss JOIN statements st ON st.seq = ss.seq
    GROUP BY ss.seq, ss.subject_index, st.signer_key_ids, st.recorded_at
    HAVING COUNT(*) > 1
    ORDER BY ss.seq, ss.subject_index;
INSERT INTO alias_claim_digests (claim_id, position, algorithm, value)
    SELECT c.id, ROW_NUMBER() OVER (PARTITION BY c.id ORDER BY ss.algorithm) - 1, ss.algorithm, ss.value
    FROM alias_claims c JOIN statement_subjects ss ON c.reference = ss.seq || '/' || ss.subject_index
    WHERE c.source = 'statement';
