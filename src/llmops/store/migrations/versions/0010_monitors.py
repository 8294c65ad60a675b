"""monitors, alerts and their deliveries

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('monitors',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('check', sa.String(length=16), nullable=False),
    sa.Column('options', sa.Text(), nullable=False),
    sa.Column('every_s', sa.Integer(), nullable=False),
    sa.Column('alert', sa.Text(), nullable=True),
    sa.Column('on_alert', sa.Text(), nullable=True),
    sa.Column('enabled', sa.Integer(), nullable=False),
    sa.Column('last_run_at', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_monitors'))
    )
    op.create_table('alerts',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('monitor', sa.String(length=64), nullable=False),
    sa.Column('check', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('target', sa.Text(), nullable=True),
    sa.Column('delivery', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.BigInteger(), nullable=True),
    sa.Column('claimed_at', sa.BigInteger(), nullable=True),
    sa.Column('action', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts'))
    )
    op.create_index('ix_alerts_monitor_created_at', 'alerts', ['monitor', 'created_at'], unique=False)
    op.create_index('ix_alerts_created_at', 'alerts', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_alerts_created_at', table_name='alerts')
    op.drop_index('ix_alerts_monitor_created_at', table_name='alerts')
    op.drop_table('alerts')
    op.drop_table('monitors')
