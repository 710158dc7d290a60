-- +goose Up
-- trustd_assert fails the statement, and with it the transaction, with
-- SQLSTATE code and message unless ok is true; it returns true. It lets a
-- check go in a pipeline of writes that return nothing: an append that
-- planned against the log's tip checks it when it takes the log lock, in
-- the same round trip as its inserts and its COMMIT, and a tree node
-- stored again with another hash fails its insert.
-- +goose StatementBegin
CREATE FUNCTION trustd_assert(ok boolean, code text, message text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
  END IF;
  RETURN true;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION trustd_assert(boolean, text, text);
