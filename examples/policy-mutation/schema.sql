-- A small multi-tenant schema with the shapes RLS set-ups usually have: one FOR ALL policy, split
-- per-command policies, a restrictive policy, a WITH CHECK stricter than its USING, a read-only
-- policy for another role, FORCE ROW LEVEL SECURITY on the tables the owner might query.
DO $$ BEGIN
  CREATE ROLE auditor NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE tenants (
  tenant_id uuid PRIMARY KEY,
  name text NOT NULL
);

CREATE TABLE projects (
  project_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
  name text NOT NULL
);
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY projects_tenant ON projects
  USING (tenant_id = current_setting('app.tenant_id')::uuid);

CREATE TABLE invoices (
  invoice_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
  amount_cents integer NOT NULL CHECK (amount_cents >= 0),
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'void'))
);
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
-- Void invoices are hidden from the application.
CREATE POLICY invoices_read ON invoices FOR SELECT
  USING (tenant_id = current_setting('app.tenant_id')::uuid AND status <> 'void');
CREATE POLICY invoices_insert ON invoices FOR INSERT
  WITH CHECK (tenant_id = current_setting('app.tenant_id')::uuid);
CREATE POLICY invoices_update ON invoices FOR UPDATE
  USING (tenant_id = current_setting('app.tenant_id')::uuid);
-- A paid invoice is never changed, whatever the permissive policies allow.
CREATE POLICY invoices_locked ON invoices AS RESTRICTIVE FOR UPDATE
  USING (status <> 'paid');

CREATE TABLE notes (
  note_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
  body text NOT NULL
);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_tenant ON notes
  USING (tenant_id = current_setting('app.tenant_id')::uuid)
  WITH CHECK (tenant_id = current_setting('app.tenant_id')::uuid AND length(body) <= 500);
-- Auditors read every tenant's notes; the application never acts as one.
CREATE POLICY notes_auditor ON notes FOR SELECT TO auditor
  USING (true);
