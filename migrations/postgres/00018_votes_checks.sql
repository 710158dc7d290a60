-- +goose Up
-- votes loses its foreign keys and its voter index on PostgreSQL. Each
-- foreign key was a trigger per vote that looked up and locked (FOR KEY
-- SHARE) the digest and the log entry it names: with two batches in
-- flight voting on the same digests, the locks of both land on the same
-- rows. With the unused index they were 76 of the 121 µs the votes insert
-- cost an entry (BenchmarkVoteSubmit). PutVotes checks the same two
-- references in its insert instead, by index probes that lock nothing:
-- nothing deletes a digest or a log entry, so a probe that finds one
-- cannot be overtaken. No query reads votes by voter alone.
DROP INDEX votes_voter;
ALTER TABLE votes DROP CONSTRAINT votes_seq_fkey;
ALTER TABLE votes DROP CONSTRAINT votes_algorithm_value_fkey;

-- +goose Down
ALTER TABLE votes ADD CONSTRAINT votes_algorithm_value_fkey FOREIGN KEY (algorithm, value) REFERENCES digests (algorithm, value);
ALTER TABLE votes ADD CONSTRAINT votes_seq_fkey FOREIGN KEY (seq) REFERENCES statements (seq);
CREATE INDEX votes_voter ON votes (voter_key_id);
