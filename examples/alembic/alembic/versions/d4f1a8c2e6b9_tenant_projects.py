"""tenant_projects: projects belong to a tenant, and row level security keeps each tenant to its own

The service sets app.tenant_id for each request (SET LOCAL inside its transaction); the policy
compares it with the row's tenant_id. FORCE applies the policy to the table's owner too, which is
the role Alembic and the service log in as.

Revision ID: d4f1a8c2e6b9
Revises: b7e9d0c1f2a3
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "d4f1a8c2e6b9"
down_revision = "b7e9d0c1f2a3"
branch_labels = None
depends_on = None

TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def upgrade() -> None:
    op.create_table(
        "project",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("user.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_index("ix_project_tenant_id", "project", ["tenant_id"])
    op.execute("ALTER TABLE project ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE project FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY project_tenant ON project USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})")


def downgrade() -> None:
    op.execute("DROP POLICY project_tenant ON project")
    op.drop_index("ix_project_tenant_id", table_name="project")
    op.drop_table("project")
