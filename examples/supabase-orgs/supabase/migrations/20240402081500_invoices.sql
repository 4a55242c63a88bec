create table public.invoices (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.organizations (id) on delete cascade,
  number text not null,
  amount_cents integer not null check (amount_cents >= 0),
  status text not null default 'draft' check (status in ('draft', 'sent', 'paid')),
  unique (org_id, number)
);

alter table public.invoices enable row level security;

-- The deliberate hole: "signed in" is not "a member of the invoice's organization".
create policy "Signed-in users can read invoices" on public.invoices
  for select to authenticated using ((select auth.uid()) is not null);

create policy "Admins write invoices" on public.invoices
  for insert to authenticated with check (private.is_org_admin(org_id));
