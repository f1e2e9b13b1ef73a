"""routing rules, staff binding codes, escalations, hot spots, supervision orders

Also: units.aliases / units.stations (JSON lists), staff.on_duty, tickets.accused_unit_id.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
ACCUSED_FK = 'fk_tickets_accused_unit_id_units'


def upgrade() -> None:
    op.create_table('routing_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('subcategory', sa.String(length=32), nullable=True),
    sa.Column('domain', sa.String(length=32), nullable=True),
    sa.Column('region', sa.String(length=100), nullable=True),
    sa.Column('station', sa.String(length=200), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('binding_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code_hash')
    )
    with op.batch_alter_table('binding_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_binding_codes_staff_id'), ['staff_id'], unique=False)

    op.create_table('escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'level', 'deadline', name='uq_escalations_ticket_level')
    )
    op.create_table('hot_spots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ticket_ids', JSON, nullable=False),
    sa.Column('warned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'key', 'window_start', name='uq_hot_spots_kind_key_window')
    )
    with op.batch_alter_table('hot_spots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hot_spots_last_seen'), ['last_seen'], unique=False)

    op.create_table('supervision_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('issued_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.Integer(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['issued_by'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['resolved_by'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('supervision_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_orders_ticket_id'), ['ticket_id'], unique=False)

    # Plain string server defaults keep SQLite on ALTER TABLE ADD COLUMN (no table copy) and
    # fill rows that already exist; '0' reads as false on both backends.
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('aliases', JSON, server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('stations', JSON, server_default='[]', nullable=False))
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('on_duty', sa.Boolean(), server_default='0', nullable=False))

    # tickets is referenced by events, surveys and the outbox: a SQLite batch copy would DROP
    # it, which foreign keys refuse once rows exist, so SQLite gets an inline REFERENCES.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE tickets ADD COLUMN accused_unit_id INTEGER REFERENCES units (id)')
    else:
        op.add_column('tickets', sa.Column('accused_unit_id', sa.Integer(), nullable=True))
        op.create_foreign_key(ACCUSED_FK, 'tickets', 'units', ['accused_unit_id'], ['id'])
    op.create_index('ix_tickets_accused_unit_id', 'tickets', ['accused_unit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('supervision_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_orders_ticket_id'))
    op.drop_table('supervision_orders')
    with op.batch_alter_table('hot_spots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hot_spots_last_seen'))
    op.drop_table('hot_spots')
    op.drop_table('escalations')
    with op.batch_alter_table('binding_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_binding_codes_staff_id'))
    op.drop_table('binding_codes')
    op.drop_table('routing_rules')

    op.drop_index('ix_tickets_accused_unit_id', table_name='tickets')
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite cannot drop a column with a foreign key in place: copy the table (works
        # while no other table references ticket rows, e.g. on an empty database).
        with op.batch_alter_table('tickets', schema=None, recreate='always') as batch_op:
            batch_op.drop_column('accused_unit_id')
    else:
        op.drop_constraint(ACCUSED_FK, 'tickets', type_='foreignkey')
        op.drop_column('tickets', 'accused_unit_id')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('on_duty')
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_column('stations')
        batch_op.drop_column('aliases')
