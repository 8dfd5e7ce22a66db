"""rotation overrides; one audit trail, which the page timelines move onto

Revision ID: 0007
Revises: 0006

Every page event is carried over (subject "page", its person as the actor), in the order it was written;
then page_events goes. The downgrade carries the page entries back and loses the rotation's (they had no
table before).
"""
import sqlalchemy as sa
from alembic import op

import oncallbot.adapters.db.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

UTC_DATETIME = oncallbot.adapters.db.types.UTCDateTime(timezone=True)


def _page_events() -> sa.TableClause:
    return sa.table('page_events', sa.column('id', sa.Integer), sa.column('page_id', sa.Integer),
                    sa.column('at', UTC_DATETIME), sa.column('kind', sa.String), sa.column('person_id', sa.String),
                    sa.column('channel', sa.String), sa.column('detail', sa.Text))


def _audit_entries() -> sa.TableClause:
    return sa.table('audit_entries', sa.column('id', sa.Integer), sa.column('subject', sa.String),
                    sa.column('subject_id', sa.String), sa.column('at', UTC_DATETIME), sa.column('actor', sa.String),
                    sa.column('kind', sa.String), sa.column('channel', sa.String), sa.column('detail', sa.Text))


def upgrade() -> None:
    op.create_table('rotation_overrides',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('from_person_id', sa.String(length=64), nullable=False),
    sa.Column('to_person_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('approved_by', sa.String(length=64), nullable=True),
    sa.Column('applied_at', UTC_DATETIME, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rotation_overrides'))
    )
    with op.batch_alter_table('rotation_overrides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rotation_overrides_week_start'), ['week_start'], unique=False)

    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('subject', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('at', UTC_DATETIME, nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_subject_at', ['subject', 'subject_id', 'at'], unique=False)

    events, entries = _page_events(), _audit_entries()
    op.execute(entries.insert().from_select(
        ['subject', 'subject_id', 'at', 'actor', 'kind', 'channel', 'detail'],
        sa.select(sa.literal('page'), sa.cast(events.c.page_id, sa.String(64)), events.c.at, events.c.person_id,
                  events.c.kind, events.c.channel, events.c.detail).order_by(events.c.id)))

    with op.batch_alter_table('page_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_page_events_page_id'))
    op.drop_table('page_events')


def downgrade() -> None:
    op.create_table('page_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('page_id', sa.Integer(), nullable=False),
    sa.Column('at', UTC_DATETIME, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['page_id'], ['pages.id'], name=op.f('fk_page_events_page_id_pages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_page_events'))
    )
    with op.batch_alter_table('page_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_page_events_page_id'), ['page_id'], unique=False)

    events, entries = _page_events(), _audit_entries()
    op.execute(events.insert().from_select(
        ['page_id', 'at', 'kind', 'person_id', 'channel', 'detail'],
        sa.select(sa.cast(entries.c.subject_id, sa.Integer), entries.c.at, entries.c.kind, entries.c.actor,
                  entries.c.channel, entries.c.detail)
        .where(entries.c.subject == 'page').order_by(entries.c.id)))

    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_subject_at')
    op.drop_table('audit_entries')
    with op.batch_alter_table('rotation_overrides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rotation_overrides_week_start'))
    op.drop_table('rotation_overrides')
