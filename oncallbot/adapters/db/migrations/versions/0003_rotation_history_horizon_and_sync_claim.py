"""sync state: expansion horizon and the claim of the running sync

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

import oncallbot.adapters.db.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows keep their token and sync time; with no expansion horizon, their next sync is a full one.
    with op.batch_alter_table('sync_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expanded_until', oncallbot.adapters.db.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', oncallbot.adapters.db.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.alter_column('synced_at', existing_type=oncallbot.adapters.db.types.UTCDateTime(timezone=True),
                              nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM sync_state WHERE synced_at IS NULL")  # claimed, never synced: nothing to keep
    with op.batch_alter_table('sync_state', schema=None) as batch_op:
        batch_op.alter_column('synced_at', existing_type=oncallbot.adapters.db.types.UTCDateTime(timezone=True),
                              nullable=False)
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('expanded_until')
