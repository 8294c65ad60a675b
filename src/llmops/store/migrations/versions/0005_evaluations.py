"""evaluations, the generation cache, and gate results on model versions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('evaluations',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('model_version_id', sa.String(length=26), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('dataset_version_id', sa.String(length=26), nullable=False),
    sa.Column('prompt_version_id', sa.String(length=26), nullable=True),
    sa.Column('metrics', sa.Text(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('cached', sa.Integer(), nullable=False),
    sa.Column('examples', sa.String(length=71), nullable=False),
    sa.Column('run_id', sa.String(length=26), nullable=True),
    sa.Column('config', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluations'))
    )
    op.create_table('generation_cache',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('output', sa.Text(), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('tokens', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_generation_cache'))
    )
    with op.batch_alter_table('model_versions') as batch:
        batch.add_column(sa.Column('gates', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('model_versions') as batch:
        batch.drop_column('gates')
    op.drop_table('generation_cache')
    op.drop_table('evaluations')
