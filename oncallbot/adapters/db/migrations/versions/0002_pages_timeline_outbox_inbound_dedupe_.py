"""pages, timeline, outbox, inbound dedupe, opt-outs, reported problems

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

import oncallbot.adapters.db.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbound_events',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('received_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_inbound_events'))
    )
    op.create_table('opt_outs',
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('since', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('person_id', 'channel', name=op.f('pk_opt_outs'))
    )
    op.create_table('pages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('responsible', sa.String(length=64), nullable=False),
    sa.Column('created_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deadline_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('on_it_by', sa.String(length=64), nullable=True),
    sa.Column('on_it_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('done_by', sa.String(length=64), nullable=True),
    sa.Column('done_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('fired', sa.Integer(), nullable=False),
    sa.Column('next_due_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('slack_channel', sa.String(length=32), nullable=True),
    sa.Column('slack_thread_ts', sa.String(length=32), nullable=True),
    sa.Column('slack_card_ts', sa.String(length=32), nullable=True),
    sa.Column('escalated_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pages')),
    sa.UniqueConstraint('external_id', name=op.f('uq_pages_external_id'))
    )
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pages_next_due_at'), ['next_due_at'], unique=False)

    op.create_table('reported_problems',
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('reported_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_reported_problems'))
    )
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('page_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=True),
    sa.Column('target', sa.String(length=64), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('provider_ref', sa.String(length=64), nullable=True),
    sa.Column('delivery_status', sa.String(length=32), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['page_id'], ['pages.id'], name=op.f('fk_notifications_page_id_pages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('key', name=op.f('uq_notifications_key'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_page_id'), ['page_id'], unique=False)
        batch_op.create_index('ix_notifications_person_channel_created', ['person_id', 'channel', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_provider_ref'), ['provider_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_state'), ['state'], unique=False)

    op.create_table('page_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('page_id', sa.Integer(), nullable=False),
    sa.Column('at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['page_id'], ['pages.id'], name=op.f('fk_page_events_page_id_pages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_page_events'))
    )
    with op.batch_alter_table('page_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_page_events_page_id'), ['page_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('page_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_page_events_page_id'))

    op.drop_table('page_events')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_state'))
        batch_op.drop_index(batch_op.f('ix_notifications_provider_ref'))
        batch_op.drop_index('ix_notifications_person_channel_created')
        batch_op.drop_index(batch_op.f('ix_notifications_page_id'))

    op.drop_table('notifications')
    op.drop_table('reported_problems')
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pages_next_due_at'))

    op.drop_table('pages')
    op.drop_table('opt_outs')
    op.drop_table('inbound_events')
