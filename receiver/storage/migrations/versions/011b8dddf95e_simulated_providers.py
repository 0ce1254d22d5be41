"""simulated providers: their tenants, tokens, webhooks and deliveries

Revision ID: 011b8dddf95e
Revises: 5d2c8e41b7a0
Create Date: 2026-12-07 05:10:45

The state of the mock webhook-management APIs under /mock/<provider>; new tables only.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '011b8dddf95e'
down_revision = '5d2c8e41b7a0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mock_tenant',
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('provider', 'tenant', name=op.f('pk_mock_tenant'))
    )
    op.create_table('mock_delivery',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('webhook_id', sa.String(length=36), nullable=False),
    sa.Column('trigger_id', sa.String(length=32), nullable=False),
    sa.Column('event', sa.String(length=128), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('request_headers', sa.JSON(), nullable=False),
    sa.Column('request_body', sa.LargeBinary(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_headers', sa.JSON(), nullable=False),
    sa.Column('response_body', sa.LargeBinary(), nullable=False),
    sa.Column('elapsed_ms', sa.Float(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider', 'tenant'], ['mock_tenant.provider', 'mock_tenant.tenant'], name=op.f('fk_mock_delivery_provider_mock_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mock_delivery'))
    )
    with op.batch_alter_table('mock_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_mock_delivery_provider_tenant_id', ['provider', 'tenant', 'id'], unique=False)

    op.create_table('mock_token',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('hint', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider', 'tenant'], ['mock_tenant.provider', 'mock_tenant.tenant'], name=op.f('fk_mock_token_provider_mock_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_mock_token'))
    )
    with op.batch_alter_table('mock_token', schema=None) as batch_op:
        batch_op.create_index('ix_mock_token_provider_tenant', ['provider', 'tenant'], unique=False)

    op.create_table('mock_webhook',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=True),
    sa.Column('api_id', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('secret', sa.Text(), nullable=True),
    sa.Column('headers', sa.JSON(), nullable=True),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('last_delivery', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider', 'tenant'], ['mock_tenant.provider', 'mock_tenant.tenant'], name=op.f('fk_mock_webhook_provider_mock_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mock_webhook'))
    )
    with op.batch_alter_table('mock_webhook', schema=None) as batch_op:
        batch_op.create_index('ix_mock_webhook_provider_tenant', ['provider', 'tenant', 'created_at'], unique=False)



def downgrade():
    with op.batch_alter_table('mock_webhook', schema=None) as batch_op:
        batch_op.drop_index('ix_mock_webhook_provider_tenant')

    op.drop_table('mock_webhook')
    with op.batch_alter_table('mock_token', schema=None) as batch_op:
        batch_op.drop_index('ix_mock_token_provider_tenant')

    op.drop_table('mock_token')
    with op.batch_alter_table('mock_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_mock_delivery_provider_tenant_id')

    op.drop_table('mock_delivery')
    op.drop_table('mock_tenant')
