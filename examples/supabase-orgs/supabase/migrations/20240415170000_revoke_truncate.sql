-- The platform's default privileges grant ALL, TRUNCATE included, to anon and authenticated;
-- TRUNCATE ignores row level security.
revoke truncate on all tables in schema public from anon, authenticated;
alter default privileges in schema public revoke truncate on tables from anon, authenticated;
