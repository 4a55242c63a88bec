-- Scenario 1: SaaS documents with tenant GUC policies.
--
-- A document platform keyed by tenant_id. The application sets the tenant per transaction:
--   SET LOCAL app.current_tenant_id = '<tenant uuid>';
-- and the policies compare every row against it. The policies are fail-closed: with the setting
-- never set, current_setting(..., true) is NULL and no row matches; with it set to '' (after a
-- SET LOCAL has ended, or RESET) the ::uuid cast raises 22P02.
--
-- users, documents, audit_logs and tenant_api_keys have RLS enabled but not forced, so the
-- table owner bypasses the policies; so do superusers and BYPASSRLS roles. Only a role that is
-- none of those is subject to them. tenants, templates and tenant_configs have no RLS.
--
-- The "uber admin" policies name the role postgres, which exists on PGlite and on
-- Debian-packaged clusters but not on a cluster created with `initdb -U <someone else>`; they
-- are created only when that role exists.

CREATE TABLE tenants (
  tenant_id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name              text NOT NULL,
  domain            text NOT NULL,
  subscription_tier text NOT NULL DEFAULT 'free',
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tenants_domain_key UNIQUE (domain),
  CONSTRAINT tenants_subscription_tier_check CHECK (subscription_tier IN ('free', 'pro', 'enterprise'))
);

CREATE TABLE users (
  user_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  email      text NOT NULL,
  full_name  text,
  role       text NOT NULL DEFAULT 'member',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_email_key UNIQUE (email),
  CONSTRAINT users_role_check CHECK (role IN ('owner', 'admin', 'member', 'viewer'))
);
CREATE INDEX users_tenant_id_idx ON users (tenant_id);

CREATE TABLE documents (
  document_id  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id    uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  user_id      uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  title        text NOT NULL,
  content_hash text NOT NULL,
  metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT documents_content_hash_key UNIQUE (content_hash)
);
CREATE INDEX documents_tenant_id_idx ON documents (tenant_id);
CREATE INDEX documents_user_id_idx ON documents (user_id);

-- tenant_id is NULL for platform-level events (sign-ups, billing runs, maintenance).
CREATE TABLE audit_logs (
  log_id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id     uuid REFERENCES tenants (tenant_id) ON DELETE SET NULL,
  user_id       uuid REFERENCES users (user_id) ON DELETE SET NULL,
  action        text NOT NULL,
  resource_type text NOT NULL,
  resource_id   text,
  details       jsonb NOT NULL DEFAULT '{}'::jsonb,
  "timestamp"   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_tenant_id_idx ON audit_logs (tenant_id);
CREATE INDEX audit_logs_user_id_idx ON audit_logs (user_id);
CREATE INDEX audit_logs_timestamp_idx ON audit_logs ("timestamp");

CREATE TABLE tenant_api_keys (
  key_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  key_hash    text NOT NULL,
  name        text NOT NULL,
  permissions text[] NOT NULL DEFAULT '{}'::text[],
  expires_at  timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tenant_api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX tenant_api_keys_tenant_id_idx ON tenant_api_keys (tenant_id);

-- Global catalogue shared by every tenant: no tenant column.
CREATE TABLE templates (
  template_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  template_name  text NOT NULL,
  domain_type    text NOT NULL,
  default_config jsonb NOT NULL DEFAULT '{}'::jsonb,
  field_schema   jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT templates_template_name_key UNIQUE (template_name),
  CONSTRAINT templates_domain_type_check CHECK (domain_type IN ('legal', 'medical', 'finance', 'general'))
);

-- One configuration row per tenant (the UNIQUE constraint is the tenant_id index).
CREATE TABLE tenant_configs (
  config_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  template_id   uuid REFERENCES templates (template_id) ON DELETE SET NULL,
  settings      jsonb NOT NULL DEFAULT '{}'::jsonb,
  feature_flags jsonb NOT NULL DEFAULT '{}'::jsonb,
  branding      jsonb NOT NULL DEFAULT '{}'::jsonb,
  integrations  jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tenant_configs_tenant_id_key UNIQUE (tenant_id)
);
CREATE INDEX tenant_configs_template_id_idx ON tenant_configs (template_id);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_api_keys ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_policy ON users
  USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid);
CREATE POLICY tenant_isolation_policy ON documents
  USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid);
CREATE POLICY tenant_isolation_policy ON audit_logs
  USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid);
CREATE POLICY tenant_isolation_policy ON tenant_api_keys
  USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'postgres') THEN
    CREATE POLICY uber_admin_policy ON users TO postgres USING (true) WITH CHECK (true);
    CREATE POLICY uber_admin_policy ON documents TO postgres USING (true) WITH CHECK (true);
    CREATE POLICY uber_admin_policy ON audit_logs TO postgres USING (true) WITH CHECK (true);
    CREATE POLICY uber_admin_policy ON tenant_api_keys TO postgres USING (true) WITH CHECK (true);
  END IF;
END
$$;
