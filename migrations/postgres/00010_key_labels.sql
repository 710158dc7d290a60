-- +goose Up
-- Key labels are unique ignoring case, so nobody registers a key under a
-- label another holder uses (issue 13: "a stranger labels their key
-- alice-release"). An empty label is no label and may repeat.
--
-- Databases written before this rule may hold the same label on several
-- keys. The key registered first (earliest created_at, then lowest id)
-- keeps the label; the later ones lose it (their label becomes empty):
-- the keys, their signatures and everything that names them stay, only
-- the name a later registrant chose is dropped. Labels outside the
-- character set new registrations must use ([a-z0-9._-]) are kept.
CREATE INDEX keys_label_dedup ON keys (lower(label));
UPDATE keys SET label = ''
WHERE label <> '' AND EXISTS (
    SELECT 1 FROM keys AS first
    WHERE first.label <> '' AND lower(first.label) = lower(keys.label)
      AND (first.created_at < keys.created_at OR (first.created_at = keys.created_at AND first.id < keys.id))
);
DROP INDEX keys_label_dedup;
CREATE UNIQUE INDEX keys_label ON keys (lower(label)) WHERE label <> '';

-- +goose Down
DROP INDEX keys_label;
