-- +goose Up
-- The tables an append writes for every entry keep no foreign keys on
-- PostgreSQL. Each foreign key is a trigger per inserted row that looks up
-- and locks (FOR KEY SHARE) the row it names: in BenchmarkVoteSubmit they
-- were about 150 of the 412 µs of PostgreSQL time an entry cost.
--
-- Only the append (sqlstore's writes.flush, for AppendStatements and
-- AddAliasClaim) inserts into digests, statement_subjects,
-- statement_signers and alias_claim_digests, and it writes each row with
-- the rows it names in one transaction under the log lock; nothing deletes
-- from them: the references hold by construction. Tables others write
-- keep their keys, whose refusals are part of the store's contract:
-- alias_claims (AddAliasClaim takes a caller's statement_seq), votes and
-- vote_totals (PutVotes refuses an unknown digest; checking it in the
-- insert instead, by index probe, measured no faster), the indexers'
-- tables. SQLite keeps every constraint, so the conformance suite, which
-- runs on both, still catches an append that would break one.
ALTER TABLE digests DROP CONSTRAINT digests_subject_id_fkey;
ALTER TABLE statement_subjects DROP CONSTRAINT statement_subjects_seq_fkey;
ALTER TABLE statement_subjects DROP CONSTRAINT statement_subjects_algorithm_value_fkey;
ALTER TABLE statement_signers DROP CONSTRAINT statement_signers_seq_fkey;
ALTER TABLE alias_claim_digests DROP CONSTRAINT alias_claim_digests_claim_id_fkey;
ALTER TABLE alias_claim_digests DROP CONSTRAINT alias_claim_digests_algorithm_value_fkey;

-- +goose Down
ALTER TABLE digests ADD CONSTRAINT digests_subject_id_fkey FOREIGN KEY (subject_id) REFERENCES subjects (id);
ALTER TABLE statement_subjects ADD CONSTRAINT statement_subjects_seq_fkey FOREIGN KEY (seq) REFERENCES statements (seq);
ALTER TABLE statement_subjects ADD CONSTRAINT statement_subjects_algorithm_value_fkey FOREIGN KEY (algorithm, value) REFERENCES digests (algorithm, value);
ALTER TABLE statement_signers ADD CONSTRAINT statement_signers_seq_fkey FOREIGN KEY (seq) REFERENCES statements (seq);
ALTER TABLE alias_claim_digests ADD CONSTRAINT alias_claim_digests_claim_id_fkey FOREIGN KEY (claim_id) REFERENCES alias_claims (id);
ALTER TABLE alias_claim_digests ADD CONSTRAINT alias_claim_digests_algorithm_value_fkey FOREIGN KEY (algorithm, value) REFERENCES digests (algorithm, value);
