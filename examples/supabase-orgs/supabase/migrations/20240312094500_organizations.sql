create extension if not exists "uuid-ossp" with schema extensions;

create type public.org_role as enum ('owner', 'admin', 'member');

create table public.organizations (
  id uuid primary key default extensions.uuid_generate_v4(),
  name text not null check (char_length(name) between 1 and 80),
  slug text not null unique,
  created_at timestamptz not null default now()
);

create table public.memberships (
  org_id uuid not null references public.organizations (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role public.org_role not null default 'member',
  created_at timestamptz not null default now(),
  primary key (org_id, user_id)
);
create index memberships_user_id_idx on public.memberships (user_id);

alter table public.organizations enable row level security;
alter table public.memberships enable row level security;

-- Policies on memberships that read memberships would recurse: the check lives in a
-- security definer function outside the exposed schema.
create schema if not exists private;
grant usage on schema private to authenticated;

create or replace function private.is_org_member(org uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.memberships m
    where m.org_id = org and m.user_id = (select auth.uid())
  );
$$;

create or replace function private.is_org_admin(org uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.memberships m
    where m.org_id = org and m.user_id = (select auth.uid()) and m.role in ('owner', 'admin')
  );
$$;

create policy "Members can view their organizations" on public.organizations
  for select to authenticated using (private.is_org_member(id));

create policy "Admins can update their organizations" on public.organizations
  for update to authenticated using (private.is_org_admin(id)) with check (private.is_org_admin(id));

create policy "Members can view co-members" on public.memberships
  for select to authenticated using (private.is_org_member(org_id));

create policy "Admins manage memberships" on public.memberships
  for all to authenticated using (private.is_org_admin(org_id)) with check (private.is_org_admin(org_id));
