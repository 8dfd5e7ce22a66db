"""calendar event etags for write-backs; which rotation problems are currently reported

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

import oncallbot.adapters.db.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calendar_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('etag', sa.String(length=255), nullable=True))
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('etag', sa.String(length=255), nullable=True))
    with op.batch_alter_table('reported_problems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('ends_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=True))
    # The stored Google events have no etag yet, and the change feed only brings back events that change:
    # forget the sync token so the next sync is a full one, which stores every event with its etag.
    op.execute("UPDATE sync_state SET sync_token = NULL WHERE source LIKE 'google:%'")
    # Rows already in reported_problems stay (text NULL): a calendar event's problem keeps its key and is not
    # reported again. Gaps have new keys (see RotationProblem.key), so an open gap is reported once more, and
    # the old rows are forgotten without a "resolved" message: what they said is not stored.


def downgrade() -> None:
    with op.batch_alter_table('reported_problems', schema=None) as batch_op:
        batch_op.drop_column('ends_at')
        batch_op.drop_column('text')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('etag')
    with op.batch_alter_table('calendar_events', schema=None) as batch_op:
        batch_op.drop_column('etag')
