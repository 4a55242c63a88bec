-- Enabled from the dashboard's extension list on the platform.
create extension if not exists pg_cron with schema pg_catalog;

-- Finished tasks are removed every night at 03:00 UTC.
select cron.schedule(
  'purge-finished-tasks',
  '0 3 * * *',
  $$ delete from public.tasks where done $$
);
