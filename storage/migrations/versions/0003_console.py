"""staff web console: sessions, login attempts, login links, ticket search, queue indexes

PostgreSQL only: ticket_search.tsv, a stored tsvector generated from the jieba tokens with
the 'simple' configuration, and a GIN index on it; and two partial indexes over open tickets
(newest first, overall and per unit) for the open-work queues, whose few open rows the
planner otherwise sorts out of a unit's whole history. SQLite walks (unit_id, created_at)
backwards well enough without them. SQLite: the FTS5 table over ticket_search is a
rebuildable derived index created on first use (storage.console_search.ensure_fts), so it
is only dropped here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

TICKET_INDEXES = (
    ('ix_tickets_created_id', ['created_at', 'id']),
    ('ix_tickets_unit_created_id', ['unit_id', 'created_at', 'id']),
    ('ix_tickets_assignee_created_id', ['assignee_id', 'created_at', 'id']),
    ('ix_tickets_severity_status_created', ['severity', 'status', 'created_at']),
    ('ix_tickets_supervision_created', ['supervision_level', 'created_at']),
    ('ix_tickets_sealed_created', ['sealed', 'created_at']),
    ('ix_tickets_updated_at', ['updated_at']),
)
OPEN_STATUSES = "('received', 'verifying', 'handling', 'replied', 'transferring', 'reopened')"
PG_OPEN_INDEXES = (
    ('ix_tickets_open_created', 'created_at, id'),
    ('ix_tickets_open_unit_created', 'unit_id, created_at, id'),
)
SQLITE_FTS_OBJECTS = (
    'DROP TRIGGER IF EXISTS ticket_search_ai',
    'DROP TRIGGER IF EXISTS ticket_search_ad',
    'DROP TRIGGER IF EXISTS ticket_search_au',
    'DROP TABLE IF EXISTS ticket_search_fts',
)


def upgrade() -> None:
    op.create_table('console_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nonce_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('nonce_hash')
    )
    op.create_index('ix_console_sessions_staff_id', 'console_sessions', ['staff_id'], unique=False)

    op.create_table('console_login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username_key', sa.String(length=100), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_console_login_attempts_user_time', 'console_login_attempts',
                    ['username_key', 'created_at'], unique=False)
    op.create_index('ix_console_login_attempts_ip_time', 'console_login_attempts',
                    ['ip', 'created_at'], unique=False)

    op.create_table('console_login_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index('ix_console_login_tokens_staff_id', 'console_login_tokens', ['staff_id'],
                    unique=False)

    op.create_table('ticket_search',
    sa.Column('ticket_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('tokens', sa.Text(), nullable=False),
    sa.Column('source_updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('ticket_id')
    )
    op.create_index('ix_ticket_search_source_updated_at', 'ticket_search', ['source_updated_at'],
                    unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # 'simple' keeps every token as it is (no stemming, no stop words): the tokens are
        # already jieba's words, lower-cased and stripped of punctuation by the indexer.
        op.execute("ALTER TABLE ticket_search ADD COLUMN tsv tsvector "
                   "GENERATED ALWAYS AS (to_tsvector('simple', tokens)) STORED")
        op.execute('CREATE INDEX ix_ticket_search_tsv ON ticket_search USING gin (tsv)')
        for name, column_list in PG_OPEN_INDEXES:
            op.execute(f'CREATE INDEX {name} ON tickets ({column_list}) '
                       f'WHERE status IN {OPEN_STATUSES}')

    for name, columns in TICKET_INDEXES:
        op.create_index(name, 'tickets', columns, unique=False)


def downgrade() -> None:
    for name, _columns in TICKET_INDEXES:
        op.drop_index(name, table_name='tickets')
    if op.get_bind().dialect.name == 'postgresql':
        for name, _column_list in PG_OPEN_INDEXES:
            op.execute(f'DROP INDEX {name}')
    if op.get_bind().dialect.name == 'sqlite':
        for statement in SQLITE_FTS_OBJECTS:
            op.execute(statement)
    op.drop_index('ix_ticket_search_source_updated_at', table_name='ticket_search')
    op.drop_table('ticket_search')
    op.drop_index('ix_console_login_tokens_staff_id', table_name='console_login_tokens')
    op.drop_table('console_login_tokens')
    op.drop_index('ix_console_login_attempts_ip_time', table_name='console_login_attempts')
    op.drop_index('ix_console_login_attempts_user_time', table_name='console_login_attempts')
    op.drop_table('console_login_attempts')
    op.drop_index('ix_console_sessions_staff_id', table_name='console_sessions')
    op.drop_table('console_sessions')
