"""rotation, sync state and job runs

Revision ID: 0001
Revises: 
"""
import sqlalchemy as sa
from alembic import op

import oncallbot.adapters.db.types

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendar_events',
    sa.Column('event_id', sa.String(length=512), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('start_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('all_day', sa.Boolean(), nullable=False),
    sa.Column('attendee_emails', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_calendar_events'))
    )
    op.create_table('job_runs',
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('occasion', sa.String(length=64), nullable=False),
    sa.Column('ran_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('job', 'occasion', name=op.f('pk_job_runs'))
    )
    op.create_table('shifts',
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('start_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('event_id', sa.String(length=512), nullable=False),
    sa.PrimaryKeyConstraint('week_start', name=op.f('pk_shifts'))
    )
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.create_index('ix_shifts_person_start', ['person_id', 'start_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_shifts_start_at'), ['start_at'], unique=True)

    op.create_table('sync_state',
    sa.Column('source', sa.String(length=512), nullable=False),
    sa.Column('sync_token', sa.Text(), nullable=True),
    sa.Column('synced_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('source', name=op.f('pk_sync_state'))
    )


def downgrade() -> None:
    op.drop_table('sync_state')
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shifts_start_at'))
        batch_op.drop_index('ix_shifts_person_start')

    op.drop_table('shifts')
    op.drop_table('job_runs')
    op.drop_table('calendar_events')
