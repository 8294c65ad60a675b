"""human and automatic feedback on traces, annotation queues

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feedback',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('trace_id', sa.String(length=64), nullable=False),
    sa.Column('thumbs', sa.Integer(), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('labels', sa.Text(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('correction', sa.Text(), nullable=True),
    sa.Column('preference', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=128), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('key_id', sa.String(length=26), nullable=True),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback')),
    sa.UniqueConstraint('actor', 'idempotency_key', name='uq_feedback_actor_idempotency_key')
    )
    op.create_index('ix_feedback_trace_id', 'feedback', ['trace_id'], unique=False)
    op.create_index('ix_feedback_created_at', 'feedback', ['created_at'], unique=False)
    op.create_table('annotation_queues',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('where_expr', sa.Text(), nullable=True),
    sa.Column('since_ms', sa.BigInteger(), nullable=True),
    sa.Column('sample_size', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annotation_queues')),
    sa.UniqueConstraint('name', name=op.f('uq_annotation_queues_name'))
    )
    op.create_table('annotation_items',
    sa.Column('queue_id', sa.String(length=26), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('trace_id', sa.String(length=64), nullable=False),
    sa.Column('done_by', sa.String(length=128), nullable=True),
    sa.Column('done_at', sa.BigInteger(), nullable=True),
    sa.Column('feedback_id', sa.String(length=26), nullable=True),
    sa.ForeignKeyConstraint(['queue_id'], ['annotation_queues.id'],
                            name=op.f('fk_annotation_items_queue_id_annotation_queues'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('queue_id', 'position', name=op.f('pk_annotation_items')),
    sa.UniqueConstraint('queue_id', 'trace_id', name='uq_annotation_items_queue_trace')
    )


def downgrade() -> None:
    op.drop_table('annotation_items')
    op.drop_table('annotation_queues')
    op.drop_index('ix_feedback_created_at', table_name='feedback')
    op.drop_index('ix_feedback_trace_id', table_name='feedback')
    op.drop_table('feedback')
