"""scenario: how many of its sends failed

Revision ID: c4a1d2e3f5b6
Revises: b7c1d2e3f4a5
Create Date: 2026-12-07 06:00:00

A send fails when the target gave no answer (refused, timed out, not sendable) or answered
400 or more. Existing scenarios count theirs from the attempts they recorded.
"""

import sqlalchemy as sa
from alembic import op

revision = "c4a1d2e3f5b6"
down_revision = "b7c1d2e3f4a5"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("scenario", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE scenario SET failed = (SELECT COUNT(*) FROM replay"
        " WHERE replay.scenario_id = scenario.id"
        " AND (replay.status_code IS NULL OR replay.status_code >= 400))"
    )


def downgrade():
    with op.batch_alter_table("scenario", schema=None) as batch_op:
        batch_op.drop_column("failed")
