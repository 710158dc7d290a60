-- +goose Up
-- Every accepted revocation or reinstatement statement, one row per log
-- entry (the history), derived from the log inside the append's
-- transaction (seq is the entry's log sequence). target_key is revocation.TargetKey(kind, target_id): the
-- fixed-width id offline clients look targets up by.
CREATE TABLE revocation_events (
    seq          BIGINT      PRIMARY KEY,
    target_key   BYTEA       NOT NULL,
    kind         TEXT        NOT NULL,
    target_id    TEXT        NOT NULL,
    action       TEXT        NOT NULL,
    reason       TEXT        NOT NULL,
    effective_at TIMESTAMPTZ NOT NULL,
    revokers     TEXT        NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX revocation_events_target ON revocation_events (target_key, seq);

-- The current state of every target ever revoked: the merge of its events
-- in log order (revocation.Merge), so a lookup is one row.
CREATE TABLE revocations (
    target_key   BYTEA       PRIMARY KEY,
    kind         TEXT        NOT NULL,
    target_id    TEXT        NOT NULL,
    action       TEXT        NOT NULL,
    reason       TEXT        NOT NULL,
    effective_at TIMESTAMPTZ NOT NULL,
    revokers     TEXT        NOT NULL,
    seq          BIGINT      NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX revocations_kind_id ON revocations (kind, target_id);
-- Snapshots page through the revocations in force in write order.
CREATE INDEX revocations_seq ON revocations (seq) WHERE action = 'revoke';

-- +goose Down
DROP TABLE revocations;
DROP TABLE revocation_events;
