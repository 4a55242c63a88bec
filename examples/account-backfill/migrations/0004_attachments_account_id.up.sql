-- attachments.account_id, backfilled through attachments.session_id -> sessions.account_id.

ALTER TABLE attachments ADD COLUMN account_id uuid REFERENCES accounts (account_id) ON DELETE CASCADE;

UPDATE attachments a
   SET account_id = s.account_id
  FROM sessions s
 WHERE s.session_id = a.session_id
   AND a.account_id IS NULL;

DO $$
DECLARE
  missing bigint;
BEGIN
  SELECT count(*) INTO missing FROM attachments WHERE account_id IS NULL;
  IF missing > 0 THEN
    RAISE EXCEPTION 'attachments.account_id backfill left % row(s) NULL', missing;
  END IF;
END
$$;

ALTER TABLE attachments ALTER COLUMN account_id SET NOT NULL;
CREATE INDEX attachments_account_id_idx ON attachments (account_id);
