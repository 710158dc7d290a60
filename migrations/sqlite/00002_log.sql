-- +goose Up
-- Who signed each statement, for listing statements by signer.
CREATE TABLE statement_signers (
    seq    BIGINT NOT NULL REFERENCES statements (seq),
    key_id TEXT   NOT NULL,
    PRIMARY KEY (key_id, seq)
);

-- The statement log as an RFC 6962 Merkle tree: every complete node (a
-- perfect subtree's root, leaves included) is stored once, by level and
-- index. Leaf i is statement seq i+1.
CREATE TABLE log_nodes (
    level INTEGER NOT NULL,
    idx   BIGINT  NOT NULL,
    hash  BLOB   NOT NULL,
    PRIMARY KEY (level, idx)
);

-- +goose Down
DROP TABLE log_nodes;
DROP TABLE statement_signers;
