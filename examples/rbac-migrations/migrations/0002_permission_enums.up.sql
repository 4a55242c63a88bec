-- Migration B: permission.name / permission.scope_type become enum columns action / scope.
-- Every existing name must be a permission_action label and every scope_type a
-- permission_scope label; anything else stops the migration before a row is changed.

CREATE TYPE permission_action AS ENUM ('read', 'write', 'delete', 'manage');
CREATE TYPE permission_scope AS ENUM ('global', 'tenant', 'project');

DO $$
DECLARE
  bad text;
BEGIN
  SELECT string_agg(DISTINCT format('id %s: name %L, scope_type %L', id, name, scope_type), '; ')
    INTO bad
    FROM permission
   WHERE name NOT IN (SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = 'permission_action'::regtype)
      OR scope_type NOT IN (SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = 'permission_scope'::regtype);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'permission rows that map to no permission_action/permission_scope label: %', bad
      USING HINT = 'Fix or delete these rows, or add the labels to the enums, then run the migration again.';
  END IF;
END
$$;

ALTER TABLE permission
  ADD COLUMN action permission_action,
  ADD COLUMN scope permission_scope;

UPDATE permission
   SET action = name::permission_action,
       scope = scope_type::permission_scope;

ALTER TABLE permission
  ALTER COLUMN action SET NOT NULL,
  ALTER COLUMN scope SET NOT NULL;

ALTER TABLE permission DROP CONSTRAINT uq_permission_name_scope_type;
DROP INDEX ix_permission_name;
DROP INDEX ix_permission_scope_type;
ALTER TABLE permission
  DROP COLUMN name,
  DROP COLUMN scope_type;

ALTER TABLE permission ADD CONSTRAINT uq_permission_action_scope UNIQUE (action, scope);
CREATE INDEX ix_permission_action ON permission (action);
CREATE INDEX ix_permission_scope ON permission (scope);

ALTER TABLE role ADD COLUMN is_global boolean NOT NULL DEFAULT false;
