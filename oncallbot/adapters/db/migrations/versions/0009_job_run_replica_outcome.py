"""job runs record the replica that claimed them and whether they ran or were missed past their grace

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('job_runs') as batch:
        batch.add_column(sa.Column('replica', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('outcome', sa.String(length=16), server_default='ran', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('job_runs') as batch:
        batch.drop_column('outcome')
        batch.drop_column('replica')
