"""phone_calls: the office line's calls, one row per Twilio CallSid

Revision ID: 0012
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

from oncallbot.adapters.db.types import UTCDateTime

revision = '0012'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'phone_calls',
        sa.Column('call_sid', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('line_number', sa.String(length=32), nullable=False),
        sa.Column('caller', sa.String(length=32), nullable=False),
        sa.Column('started_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('route', sa.JSON(), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('taken_by', sa.String(length=64), nullable=True),
        sa.Column('ring_failure', sa.String(length=32), nullable=True),
        sa.Column('page_id', sa.Integer(), nullable=True),
        sa.Column('test_page_id', sa.Integer(), nullable=True),
        sa.Column('recording_sid', sa.String(length=64), nullable=True),
        sa.Column('recording_seconds', sa.Integer(), nullable=True),
        sa.Column('transcription_status', sa.String(length=16), nullable=True),
        sa.Column('transcription', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['page_id'], ['pages.id'], name='fk_phone_calls_page_id_pages', ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('call_sid', name='pk_phone_calls'),
    )
    op.create_index('ix_phone_calls_page_id', 'phone_calls', ['page_id'])


def downgrade() -> None:
    op.drop_index('ix_phone_calls_page_id', table_name='phone_calls')
    op.drop_table('phone_calls')
