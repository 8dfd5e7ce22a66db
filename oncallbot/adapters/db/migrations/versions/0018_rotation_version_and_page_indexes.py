"""the rotation's version (each replica's in-memory rotation reloads when it moves), and the pages indexes a
large pages table needs: the week report by created_at, a Slack thread reply by its thread

Revision ID: 0018
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rotation_version',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rotation_version')),
    )
    op.execute("INSERT INTO rotation_version (id, version) VALUES (1, 0)")
    op.create_index('ix_pages_created_at', 'pages', ['created_at'], unique=False)
    op.create_index('ix_pages_slack_thread', 'pages', ['slack_channel', 'slack_thread_ts'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_pages_slack_thread', table_name='pages')
    op.drop_index('ix_pages_created_at', table_name='pages')
    op.drop_table('rotation_version')
