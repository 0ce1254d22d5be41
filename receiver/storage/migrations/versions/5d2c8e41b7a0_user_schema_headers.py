"""user schemas keep their required request headers; listeners say when they left

Revision ID: 5d2c8e41b7a0
Revises: c4a1d2e3f5b6
Create Date: 2026-12-07 09:00:00

An OpenAPI import stores each webhook's required header parameters (name and example value),
so that the event's sample carries them; existing rows have none. A listener that stops
cleanly notes when (``left_at``), so it shows as disconnected at once.
"""

import sqlalchemy as sa
from alembic import op

revision = "5d2c8e41b7a0"
down_revision = "c4a1d2e3f5b6"
branch_labels = None
depends_on = None


def upgrade():
    # added in place (no table rebuild, which on SQLite would drop AUTOINCREMENT)
    op.add_column("user_schema", sa.Column("headers", sa.JSON(), nullable=True))
    op.add_column("listener", sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("listener", schema=None) as batch_op:
        batch_op.drop_column("left_at")
    with op.batch_alter_table("user_schema", schema=None) as batch_op:
        batch_op.drop_column("headers")
