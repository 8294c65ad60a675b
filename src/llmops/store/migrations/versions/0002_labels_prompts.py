"""labels (movable pointers with history) and the prompt registry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 11:56:14.466013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('label_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('owner_id', sa.String(length=26), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('target_id', sa.String(length=26), nullable=True),
    sa.Column('previous_id', sa.String(length=26), nullable=True),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_label_events'))
    )
    with op.batch_alter_table('label_events', schema=None) as batch_op:
        batch_op.create_index('ix_label_events_owner', ['kind', 'owner_id', 'label', 'id'], unique=False)

    op.create_table('labels',
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('owner_id', sa.String(length=26), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('target_id', sa.String(length=26), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'owner_id', 'label', name=op.f('pk_labels'))
    )
    op.create_table('prompts',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prompts')),
    sa.UniqueConstraint('name', name=op.f('uq_prompts_name'))
    )
    op.create_table('prompt_versions',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('prompt_id', sa.String(length=26), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=71), nullable=False),
    sa.Column('spec', sa.Text(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['prompt_id'], ['prompts.id'], name=op.f('fk_prompt_versions_prompt_id_prompts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prompt_versions')),
    sa.UniqueConstraint('prompt_id', 'content_hash', name='uq_prompt_versions_hash'),
    sa.UniqueConstraint('prompt_id', 'version', name='uq_prompt_versions_number')
    )


def downgrade() -> None:
    op.drop_table('prompt_versions')
    op.drop_table('prompts')
    op.drop_table('labels')
    with op.batch_alter_table('label_events', schema=None) as batch_op:
        batch_op.drop_index('ix_label_events_owner')

    op.drop_table('label_events')
