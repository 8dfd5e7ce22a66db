"""delivery statuses that arrive before their send is recorded, kept to be applied once it is

Revision ID: 0015
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

import oncallbot.adapters.db.types

revision = '0015'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('early_statuses',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('provider_ref', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('error_code', sa.String(length=16), nullable=True),
    sa.Column('received_at', oncallbot.adapters.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_early_statuses'))
    )
    with op.batch_alter_table('early_statuses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_early_statuses_provider_ref'), ['provider_ref'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('early_statuses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_early_statuses_provider_ref'))
    op.drop_table('early_statuses')
