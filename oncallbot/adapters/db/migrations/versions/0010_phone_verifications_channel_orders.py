"""phone number verification codes and each person's channel order

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

import oncallbot.adapters.db.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None
UTC_DATETIME = oncallbot.adapters.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'phone_verifications',
        sa.Column('person_id', sa.String(length=64), nullable=False),
        sa.Column('phone', sa.String(length=32), nullable=False),
        sa.Column('code_digest', sa.String(length=64), nullable=False),
        sa.Column('codes_sent', sa.Integer(), nullable=False),
        sa.Column('code_sent_at', UTC_DATETIME, nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', UTC_DATETIME, nullable=False),
        sa.Column('verified_at', UTC_DATETIME, nullable=True),
        sa.Column('reminded_at', UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint('person_id', name=op.f('pk_phone_verifications')),
    )
    op.create_table(
        'channel_orders',
        sa.Column('person_id', sa.String(length=64), nullable=False),
        sa.Column('channels', sa.String(length=64), nullable=False),
        sa.Column('updated_at', UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint('person_id', name=op.f('pk_channel_orders')),
    )


def downgrade() -> None:
    op.drop_table('channel_orders')
    op.drop_table('phone_verifications')
