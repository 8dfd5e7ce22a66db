"""external ids unique per source; done reminders

Revision ID: 0005
Revises: 0004

Existing pages keep their ids: what was unique across all sources stays unique within each.
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.drop_constraint('uq_pages_external_id', type_='unique')
        batch_op.create_unique_constraint('uq_pages_source_external_id', ['source', 'external_id'])
        # Pages already On It! count from their On It! as if nothing had been sent yet.
        batch_op.add_column(sa.Column('done_reminders_sent', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index('ix_pages_state_on_it_at', ['state', 'on_it_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.drop_index('ix_pages_state_on_it_at')
        batch_op.drop_column('done_reminders_sent')
    # Refuses (unique violation) if two sources now share an external id: say which to rename first.
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.drop_constraint('uq_pages_source_external_id', type_='unique')
        batch_op.create_unique_constraint('uq_pages_external_id', ['external_id'])
