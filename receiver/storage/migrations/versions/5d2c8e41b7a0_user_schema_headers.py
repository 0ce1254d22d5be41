"""user schemas keep the request headers their provider's description requires

Revision ID: 5d2c8e41b7a0
Revises: 91ee4e447b83
Create Date: 2026-12-07 09:00:00

An OpenAPI import stores each webhook's required header parameters (name and example value),
so that the event's sample carries them; existing rows have none.
"""

import sqlalchemy as sa
from alembic import op

revision = "5d2c8e41b7a0"
down_revision = "91ee4e447b83"
branch_labels = None
depends_on = None


def upgrade():
    # added in place (no table rebuild, which on SQLite would drop AUTOINCREMENT)
    op.add_column("user_schema", sa.Column("headers", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("user_schema", schema=None) as batch_op:
        batch_op.drop_column("headers")
