"""an outbox row's mark that its text or call was handed to the provider (committed just before Twilio is
called): an interrupted send without it never reached Twilio, so it is sent again without asking

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

import oncallbot.adapters.db.types

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.add_column(sa.Column('handed_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.drop_column('handed_at')
