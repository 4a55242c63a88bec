-- Leftover global rows (platform-run ai_sessions, account_id NULL) go to a sentinel platform
-- account with a fixed id, so that every ai_session, and later every output, has an account.

INSERT INTO accounts (account_id, name, is_platform)
VALUES ('00000000-0000-0000-0000-000000000001', 'Platform', true);

UPDATE ai_sessions
   SET account_id = '00000000-0000-0000-0000-000000000001'
 WHERE account_id IS NULL;

DO $$
DECLARE
  missing bigint;
BEGIN
  SELECT count(*) INTO missing FROM ai_sessions WHERE account_id IS NULL;
  IF missing > 0 THEN
    RAISE EXCEPTION 'ai_sessions still has % row(s) with account_id NULL after assigning global rows to the platform account', missing;
  END IF;
END
$$;

ALTER TABLE ai_sessions ALTER COLUMN account_id SET NOT NULL;
