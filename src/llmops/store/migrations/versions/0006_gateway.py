"""gateway routes and request traces

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 15:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gateway_routes',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('targets', sa.Text(), nullable=False),
    sa.Column('options', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_gateway_routes'))
    )
    op.create_table('traces',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('route', sa.String(length=64), nullable=True),
    sa.Column('target', sa.Text(), nullable=True),
    sa.Column('model_version_id', sa.String(length=26), nullable=True),
    sa.Column('prompt_version_id', sa.String(length=26), nullable=True),
    sa.Column('key_id', sa.String(length=26), nullable=True),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('input', sa.Text(), nullable=False),
    sa.Column('output', sa.Text(), nullable=True),
    sa.Column('prompt_tokens', sa.Integer(), nullable=True),
    sa.Column('completion_tokens', sa.Integer(), nullable=True),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('ttft_ms', sa.Float(), nullable=True),
    sa.Column('stream', sa.Integer(), nullable=False),
    sa.Column('guard', sa.Text(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_traces'))
    )
    op.create_index('ix_traces_created_at', 'traces', ['created_at'], unique=False)
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('rpm', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('tpm', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('token_budget', sa.BigInteger(), nullable=True))
    op.create_index('ix_traces_route_created_at', 'traces', ['route', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('token_budget')
        batch.drop_column('tpm')
        batch.drop_column('rpm')
    op.drop_index('ix_traces_route_created_at', table_name='traces')
    op.drop_index('ix_traces_created_at', table_name='traces')
    op.drop_table('traces')
    op.drop_table('gateway_routes')
