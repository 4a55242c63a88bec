"""permission_enums: permission.name / permission.scope_type become enum columns action / scope

Every existing name must be a permission_action label and every scope_type a permission_scope
label; anything else stops the migration before a row is changed. The downgrade carries every
row's values back to the varchar columns and drops the enum types.

Revision ID: b7e9d0c1f2a3
Revises: a1f3c2d4e5b6
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "b7e9d0c1f2a3"
down_revision = "a1f3c2d4e5b6"
branch_labels = None
depends_on = None

permission_action = postgresql.ENUM("read", "write", "delete", "manage", name="permission_action", create_type=False)
permission_scope = postgresql.ENUM("global", "tenant", "project", name="permission_scope", create_type=False)


def upgrade() -> None:
    bind = op.get_bind()
    permission_action.create(bind, checkfirst=False)
    permission_scope.create(bind, checkfirst=False)

    # Refuse to start on rows the enums cannot hold, naming them, before any row is changed.
    bad = bind.execute(
        sa.text(
            """
            SELECT string_agg(DISTINCT format('id %s: name %L, scope_type %L', id, name, scope_type), '; ')
              FROM permission
             WHERE name NOT IN (SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = 'permission_action'::regtype)
                OR scope_type NOT IN (SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = 'permission_scope'::regtype)
            """
        )
    ).scalar()
    if bad is not None:
        raise RuntimeError(
            f"permission rows that map to no permission_action/permission_scope label: {bad}. "
            "Fix or delete these rows, or add the labels to the enums, then run the migration again."
        )

    op.add_column("permission", sa.Column("action", permission_action, nullable=True))
    op.add_column("permission", sa.Column("scope", permission_scope, nullable=True))
    op.execute(
        "UPDATE permission SET action = name::permission_action, scope = scope_type::permission_scope"
    )
    op.alter_column("permission", "action", nullable=False)
    op.alter_column("permission", "scope", nullable=False)

    op.drop_constraint("uq_permission_name_scope_type", "permission", type_="unique")
    op.drop_index("ix_permission_name", table_name="permission")
    op.drop_index("ix_permission_scope_type", table_name="permission")
    op.drop_column("permission", "name")
    op.drop_column("permission", "scope_type")

    op.create_unique_constraint("uq_permission_action_scope", "permission", ["action", "scope"])
    op.create_index("ix_permission_action", "permission", ["action"])
    op.create_index("ix_permission_scope", "permission", ["scope"])

    op.add_column("role", sa.Column("is_global", sa.Boolean(), nullable=False, server_default=sa.text("false")))


def downgrade() -> None:
    op.drop_column("role", "is_global")

    op.add_column("permission", sa.Column("name", sa.String(100), nullable=True))
    op.add_column("permission", sa.Column("scope_type", sa.String(50), nullable=True))
    op.execute("UPDATE permission SET name = action::text, scope_type = scope::text")
    op.alter_column("permission", "name", nullable=False)
    op.alter_column("permission", "scope_type", nullable=False)

    op.drop_index("ix_permission_action", table_name="permission")
    op.drop_index("ix_permission_scope", table_name="permission")
    op.drop_constraint("uq_permission_action_scope", "permission", type_="unique")
    op.drop_column("permission", "action")
    op.drop_column("permission", "scope")

    op.create_unique_constraint("uq_permission_name_scope_type", "permission", ["name", "scope_type"])
    op.create_index("ix_permission_name", "permission", ["name"])
    op.create_index("ix_permission_scope_type", "permission", ["scope_type"])

    bind = op.get_bind()
    permission_scope.drop(bind, checkfirst=False)
    permission_action.drop(bind, checkfirst=False)
