"""swap requests, the weeks a pending request holds, and the Slack messages sent about each request

Revision ID: 0008
Revises: 0007

`swap_request_weeks` is the guard: one row per week a pending request holds, the week as its primary key,
so two pending requests can never hold the same week (the loser of a race gets a unique violation).
"""
import sqlalchemy as sa
from alembic import op

import oncallbot.adapters.db.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

UTC_DATETIME = oncallbot.adapters.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('swap_requests',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('requester_id', sa.String(length=64), nullable=False),
    sa.Column('counterpart_id', sa.String(length=64), nullable=False),
    sa.Column('requester_week', sa.Date(), nullable=False),
    sa.Column('counterpart_week', sa.Date(), nullable=True),
    sa.Column('requested_at', UTC_DATETIME, nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', UTC_DATETIME, nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('previous_owner_id', sa.String(length=64), nullable=True),
    sa.Column('expires_at', UTC_DATETIME, nullable=False),
    sa.Column('remind_at', UTC_DATETIME, nullable=True),
    sa.Column('reminded_at', UTC_DATETIME, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_swap_requests'))
    )
    with op.batch_alter_table('swap_requests', schema=None) as batch_op:
        batch_op.create_index('ix_swap_requests_state_expires_at', ['state', 'expires_at'], unique=False)

    op.create_table('swap_request_weeks',
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['swap_requests.id'],
                            name=op.f('fk_swap_request_weeks_request_id_swap_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('week_start', name=op.f('pk_swap_request_weeks'))
    )
    with op.batch_alter_table('swap_request_weeks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_swap_request_weeks_request_id'), ['request_id'], unique=False)

    op.create_table('swap_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('slack_channel', sa.String(length=64), nullable=False),
    sa.Column('slack_ts', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['swap_requests.id'],
                            name=op.f('fk_swap_messages_request_id_swap_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_swap_messages'))
    )
    with op.batch_alter_table('swap_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_swap_messages_request_id'), ['request_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('swap_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_swap_messages_request_id'))
    op.drop_table('swap_messages')
    with op.batch_alter_table('swap_request_weeks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_swap_request_weeks_request_id'))
    op.drop_table('swap_request_weeks')
    with op.batch_alter_table('swap_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_swap_requests_state_expires_at')
    op.drop_table('swap_requests')
