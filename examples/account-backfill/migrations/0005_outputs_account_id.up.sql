-- outputs.account_id, backfilled through outputs.ai_session_id -> ai_sessions.account_id
-- (outputs of platform-run sessions land on the platform account).

ALTER TABLE outputs ADD COLUMN account_id uuid REFERENCES accounts (account_id) ON DELETE CASCADE;

UPDATE outputs o
   SET account_id = ai.account_id
  FROM ai_sessions ai
 WHERE ai.ai_session_id = o.ai_session_id
   AND o.account_id IS NULL;

DO $$
DECLARE
  missing bigint;
BEGIN
  SELECT count(*) INTO missing FROM outputs WHERE account_id IS NULL;
  IF missing > 0 THEN
    RAISE EXCEPTION 'outputs.account_id backfill left % row(s) NULL', missing;
  END IF;
END
$$;

ALTER TABLE outputs ALTER COLUMN account_id SET NOT NULL;
CREATE INDEX outputs_account_id_idx ON outputs (account_id);
