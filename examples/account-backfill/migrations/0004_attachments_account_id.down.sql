DROP INDEX attachments_account_id_idx;
ALTER TABLE attachments DROP COLUMN account_id;
