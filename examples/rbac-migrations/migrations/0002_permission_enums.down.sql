-- Reverts migration B: action / scope go back to the varchar columns name / scope_type, with
-- every row's values carried over, and the enum types are dropped.

ALTER TABLE role DROP COLUMN is_global;

ALTER TABLE permission
  ADD COLUMN name varchar(100),
  ADD COLUMN scope_type varchar(50);

UPDATE permission
   SET name = action::text,
       scope_type = scope::text;

ALTER TABLE permission
  ALTER COLUMN name SET NOT NULL,
  ALTER COLUMN scope_type SET NOT NULL;

DROP INDEX ix_permission_action;
DROP INDEX ix_permission_scope;
ALTER TABLE permission DROP CONSTRAINT uq_permission_action_scope;
ALTER TABLE permission
  DROP COLUMN action,
  DROP COLUMN scope;

ALTER TABLE permission ADD CONSTRAINT uq_permission_name_scope_type UNIQUE (name, scope_type);
CREATE INDEX ix_permission_name ON permission (name);
CREATE INDEX ix_permission_scope_type ON permission (scope_type);

DROP TYPE permission_scope;
DROP TYPE permission_action;
