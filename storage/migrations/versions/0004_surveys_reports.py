"""surveys and reports: manual callback tasks, monthly run guards, one survey per round

Also an index on ticket_events (action, created_at) for the monthly report's rework count.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('callback_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=True),
    sa.Column('satisfaction', sa.String(length=16), nullable=True),
    sa.Column('solved', sa.Boolean(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('completed_by', sa.Integer(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['completed_by'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'month', name='uq_callback_tasks_ticket_month')
    )
    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callback_tasks_month'), ['month'], unique=False)
        batch_op.create_index(batch_op.f('ix_callback_tasks_ticket_id'), ['ticket_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_callback_tasks_unit_id'), ['unit_id'], unique=False)

    op.create_table('monthly_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claimed_by', sa.String(length=100), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'month', name='uq_monthly_runs_kind_month')
    )

    # Plain CREATE INDEX on both backends: no table copy, so the events' append-only
    # triggers and the foreign keys into surveys stay as they are.
    op.create_index('uq_surveys_ticket_round', 'surveys', ['ticket_id', 'round'], unique=True)
    op.create_index(
        'ix_ticket_events_action_created', 'ticket_events', ['action', 'created_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_ticket_events_action_created', table_name='ticket_events')
    op.drop_index('uq_surveys_ticket_round', table_name='surveys')
    op.drop_table('monthly_runs')
    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callback_tasks_unit_id'))
        batch_op.drop_index(batch_op.f('ix_callback_tasks_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_callback_tasks_month'))
    op.drop_table('callback_tasks')
