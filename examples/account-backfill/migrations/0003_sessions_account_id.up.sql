-- sessions.account_id, backfilled through sessions.user_id -> users.account_id.

ALTER TABLE sessions ADD COLUMN account_id uuid REFERENCES accounts (account_id) ON DELETE CASCADE;

UPDATE sessions s
   SET account_id = u.account_id
  FROM users u
 WHERE u.user_id = s.user_id
   AND s.account_id IS NULL;

DO $$
DECLARE
  missing bigint;
BEGIN
  SELECT count(*) INTO missing FROM sessions WHERE account_id IS NULL;
  IF missing > 0 THEN
    RAISE EXCEPTION 'sessions.account_id backfill left % row(s) NULL (sessions whose user_id reaches no users row)', missing;
  END IF;
END
$$;

ALTER TABLE sessions ALTER COLUMN account_id SET NOT NULL;
CREATE INDEX sessions_account_id_idx ON sessions (account_id);
