create table public.projects (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  name text not null,
  archived boolean not null default false,
  created_at timestamptz not null default now()
);

create table public.tasks (
  id bigint generated always as identity primary key,
  org_id uuid not null references public.organizations (id) on delete cascade,
  project_id uuid not null references public.projects (id) on delete cascade,
  title text not null,
  done boolean not null default false,
  created_by uuid references auth.users (id) default auth.uid()
);

alter table public.projects enable row level security;
alter table public.tasks enable row level security;

create policy "Members work on their projects" on public.projects
  for all to authenticated
  using ((select private.is_org_member(org_id)))
  with check ((select private.is_org_member(org_id)));

create policy "Members work on their tasks" on public.tasks
  for all to authenticated
  using ((select private.is_org_member(org_id)))
  with check ((select private.is_org_member(org_id)));
