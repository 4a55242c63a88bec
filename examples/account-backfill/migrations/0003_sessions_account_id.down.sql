DROP INDEX sessions_account_id_idx;
ALTER TABLE sessions DROP COLUMN account_id;
