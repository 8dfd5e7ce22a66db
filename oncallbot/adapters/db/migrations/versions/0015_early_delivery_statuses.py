"""delivery statuses that arrive before their send is recorded, kept to be applied once it is

Revision ID: 0015
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

import oncallbot.adapters.db.types

revision = '0015'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('early_statuses',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('provider_ref', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('error_code', sa.String(length=16), nullable=True),
    sa.Column('received_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_early_statuses')),
    sa.UniqueConstraint('provider_ref', 'status', name=op.f('uq_early_statuses_provider_ref'))
    )


def downgrade() -> None:
    op.drop_table('early_statuses')
