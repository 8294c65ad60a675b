"""application spans (OTLP, @llmops.trace) and trace query columns

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('spans',
    sa.Column('trace_id', sa.String(length=32), nullable=False),
    sa.Column('span_id', sa.String(length=16), nullable=False),
    sa.Column('parent_span_id', sa.String(length=16), nullable=True),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('start_ns', sa.BigInteger(), nullable=False),
    sa.Column('end_ns', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('status_message', sa.Text(), nullable=True),
    sa.Column('attributes', sa.Text(), nullable=False),
    sa.Column('events', sa.Text(), nullable=False),
    sa.Column('links', sa.Text(), nullable=True),
    sa.Column('dropped_attributes', sa.Integer(), nullable=False),
    sa.Column('service_name', sa.String(length=256), nullable=True),
    sa.Column('resource', sa.Text(), nullable=True),
    sa.Column('scope', sa.String(length=256), nullable=True),
    sa.Column('operation', sa.String(length=64), nullable=True),
    sa.Column('model', sa.String(length=256), nullable=True),
    sa.Column('input_tokens', sa.Integer(), nullable=True),
    sa.Column('output_tokens', sa.Integer(), nullable=True),
    sa.Column('gateway_trace_id', sa.String(length=26), nullable=True),
    sa.Column('key_id', sa.String(length=26), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('trace_id', 'span_id', name=op.f('pk_spans'))
    )
    op.create_index('ix_spans_created_at', 'spans', ['created_at'], unique=False)
    op.create_index('ix_spans_gateway_trace_id', 'spans', ['gateway_trace_id'], unique=False)
    with op.batch_alter_table('traces') as batch:
        batch.add_column(sa.Column('model', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('otel_trace_id', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('otel_span_id', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('otel_parent_span_id', sa.String(length=16),
                                   nullable=True))
    op.create_index('ix_traces_model_created_at', 'traces', ['model', 'created_at'],
                    unique=False)
    op.create_index('ix_traces_otel_trace_id', 'traces', ['otel_trace_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_traces_otel_trace_id', table_name='traces')
    op.drop_index('ix_traces_model_created_at', table_name='traces')
    with op.batch_alter_table('traces') as batch:
        batch.drop_column('otel_parent_span_id')
        batch.drop_column('otel_span_id')
        batch.drop_column('otel_trace_id')
        batch.drop_column('model')
    op.drop_index('ix_spans_gateway_trace_id', table_name='spans')
    op.drop_index('ix_spans_created_at', table_name='spans')
    op.drop_table('spans')
