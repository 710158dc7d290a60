-- +goose Up
-- The current vote of each voter on each digest along each axis, kept by the
-- feedback indexer inside the transaction that appends the vote to the log.
-- value is +1 (like, trust), -1 (dislike, distrust) or 0 (withdrawn; the row
-- stays so that a replayed older vote cannot resurrect). A row is replaced
-- only by a vote with a later signed time (voted_at), the log seq breaking
-- ties.
CREATE TABLE votes (
    algorithm    TEXT        NOT NULL,
    value        TEXT        NOT NULL,
    axis         TEXT        NOT NULL,
    voter_key_id TEXT        NOT NULL,
    vote         SMALLINT    NOT NULL,
    voted_at     TIMESTAMPTZ NOT NULL,
    seq          BIGINT      NOT NULL REFERENCES statements (seq),
    recorded_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (algorithm, value, axis, voter_key_id),
    FOREIGN KEY (algorithm, value) REFERENCES digests (algorithm, value),
    CHECK (vote BETWEEN -1 AND 1)
);
CREATE INDEX votes_voter ON votes (voter_key_id);

-- Totals per digest, equal at every commit to a recount of votes: voters is
-- the number of distinct voters with a standing (non-zero) vote on either
-- axis. Global reputation reads one row of this table.
CREATE TABLE vote_totals (
    algorithm    TEXT        NOT NULL,
    value        TEXT        NOT NULL,
    likes        BIGINT      NOT NULL,
    dislikes     BIGINT      NOT NULL,
    trusts       BIGINT      NOT NULL,
    distrusts    BIGINT      NOT NULL,
    voters       BIGINT      NOT NULL,
    last_vote_at TIMESTAMPTZ,
    PRIMARY KEY (algorithm, value),
    FOREIGN KEY (algorithm, value) REFERENCES digests (algorithm, value)
);

-- The current trust statement of one identity about another: level 3 high,
-- 2 medium, 1 low, -1 distrust, 0 withdrawn.
CREATE TABLE trust_edges (
    truster_key_id TEXT        NOT NULL,
    trustee_key_id TEXT        NOT NULL,
    level          SMALLINT    NOT NULL,
    stated_at      TIMESTAMPTZ NOT NULL,
    seq            BIGINT      NOT NULL REFERENCES statements (seq),
    PRIMARY KEY (truster_key_id, trustee_key_id),
    CHECK (level BETWEEN -1 AND 3)
);

-- Signed responses of a digest's publishers, to a vote (in_reply_to is the
-- vote envelope's digest) or to the digest's reputation ('').
CREATE TABLE feedback_responses (
    seq              BIGINT      NOT NULL REFERENCES statements (seq),
    algorithm        TEXT        NOT NULL,
    value            TEXT        NOT NULL,
    publisher_key_id TEXT        NOT NULL,
    in_reply_to      TEXT        NOT NULL,
    body             TEXT        NOT NULL,
    responded_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (algorithm, value, seq),
    FOREIGN KEY (algorithm, value) REFERENCES digests (algorithm, value)
);

-- Where imported feedback came from: the exporting instance's log origin
-- and verifier key, and the entry's sequence number there.
CREATE TABLE feedback_provenance (
    seq          BIGINT      NOT NULL REFERENCES statements (seq),
    origin       TEXT        NOT NULL,
    verifier_key TEXT        NOT NULL,
    source_seq   BIGINT      NOT NULL,
    imported_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (seq, origin)
);

-- +goose Down
DROP TABLE feedback_provenance;
DROP TABLE feedback_responses;
DROP TABLE trust_edges;
DROP TABLE vote_totals;
DROP TABLE votes;
