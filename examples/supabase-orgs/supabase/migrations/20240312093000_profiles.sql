-- Profiles mirror auth.users: one row per signed-up user, made by a trigger.
create table public.profiles (
  id uuid not null references auth.users on delete cascade,
  full_name text,
  avatar_url text,
  updated_at timestamp with time zone default now(),
  primary key (id)
);

alter table public.profiles enable row level security;

create policy "Users can view their own profile." on public.profiles
  for select to authenticated using ((select auth.uid()) = id);

create policy "Users can update their own profile." on public.profiles
  for update to authenticated using ((select auth.uid()) = id) with check ((select auth.uid()) = id);

create function public.handle_new_user()
returns trigger
language plpgsql
security definer set search_path = ''
as $$
begin
  insert into public.profiles (id, full_name)
  values (new.id, new.raw_user_meta_data ->> 'full_name');
  return new;
end;
$$;

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute procedure public.handle_new_user();
