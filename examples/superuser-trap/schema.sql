-- Scenario 2: the superuser trap.
--
-- Nothing is wrong with this schema: every tenant table has RLS enabled and forced, one
-- fail-closed policy per table (USING and WITH CHECK on app.current_tenant_id), tenant-scoped
-- unique constraints, and composite foreign keys (tenant_id, parent_id) so a row can only point
-- at a parent of its own tenant. Tested as an ordinary application role, isolation holds.
--
-- The trap is the identity the tests run as. Row-level security does not apply to:
--   * superusers (the user initdb created, PGlite's "postgres", most CI service containers),
--     even on tables with FORCE ROW LEVEL SECURITY;
--   * roles with BYPASSRLS, or roles that can SET ROLE to / inherit from one;
--   * a table's owner when the table is not FORCEd (and an owner can ALTER TABLE ... NO FORCE).
-- Run a cross-tenant suite as any of these and every "tenant B cannot see tenant A" assertion
-- sees tenant A's rows: the suite fails (or, worse, is adjusted until it passes) while the
-- schema is fine, and a genuinely leaking schema would look exactly the same. Isolation can
-- only be asserted as a LOGIN role with NOSUPERUSER NOBYPASSRLS that owns none of these tables
-- and is granted only DML, for example:
--   CREATE ROLE app_user LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT PASSWORD '...';
--   GRANT USAGE ON SCHEMA public TO app_user;
--   GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app_user;
-- with the tenant set per transaction: SET LOCAL app.current_tenant_id = '<tenant uuid>'.
-- Roles are cluster-wide, so this file creates none.

CREATE TABLE tenants (
  tenant_id  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
  account_id uuid NOT NULL DEFAULT gen_random_uuid(),
  tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  email      text NOT NULL,
  display_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT accounts_pkey PRIMARY KEY (account_id),
  CONSTRAINT accounts_tenant_id_account_id_key UNIQUE (tenant_id, account_id),
  CONSTRAINT accounts_tenant_id_email_key UNIQUE (tenant_id, email)
);

CREATE TABLE projects (
  project_id uuid NOT NULL DEFAULT gen_random_uuid(),
  tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  owner_id   uuid NOT NULL,
  name       text NOT NULL,
  archived   boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT projects_pkey PRIMARY KEY (project_id),
  CONSTRAINT projects_tenant_id_project_id_key UNIQUE (tenant_id, project_id),
  CONSTRAINT projects_tenant_id_name_key UNIQUE (tenant_id, name),
  CONSTRAINT projects_owner_fkey FOREIGN KEY (tenant_id, owner_id)
    REFERENCES accounts (tenant_id, account_id) ON DELETE CASCADE
);
CREATE INDEX projects_tenant_id_owner_id_idx ON projects (tenant_id, owner_id);

CREATE TABLE tasks (
  task_id     uuid NOT NULL DEFAULT gen_random_uuid(),
  tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  project_id  uuid NOT NULL,
  assignee_id uuid,
  title       text NOT NULL,
  done        boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tasks_pkey PRIMARY KEY (task_id),
  CONSTRAINT tasks_project_fkey FOREIGN KEY (tenant_id, project_id)
    REFERENCES projects (tenant_id, project_id) ON DELETE CASCADE,
  CONSTRAINT tasks_assignee_fkey FOREIGN KEY (tenant_id, assignee_id)
    REFERENCES accounts (tenant_id, account_id)
);
CREATE INDEX tasks_tenant_id_project_id_idx ON tasks (tenant_id, project_id);
CREATE INDEX tasks_tenant_id_assignee_id_idx ON tasks (tenant_id, assignee_id);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON tenants
  USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid)
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true)::uuid);
CREATE POLICY tenant_isolation ON accounts
  USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid)
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true)::uuid);
CREATE POLICY tenant_isolation ON projects
  USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid)
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true)::uuid);
CREATE POLICY tenant_isolation ON tasks
  USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid)
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true)::uuid);
