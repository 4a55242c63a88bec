DROP INDEX outputs_account_id_idx;
ALTER TABLE outputs DROP COLUMN account_id;
