"""the support mailbox: where each watched folder stands, and the emails that belong to each page

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

from oncallbot.adapters.db.types import UTCDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mailboxes',
        sa.Column('mailbox', sa.String(length=255), nullable=False),
        sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
        sa.Column('last_uid', sa.BigInteger(), nullable=False),
        sa.Column('down_since', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('mailbox', name=op.f('pk_mailboxes')),
    )
    op.create_table(
        'mail_messages',
        sa.Column('message_id', sa.String(length=255), nullable=False),
        sa.Column('page_id', sa.Integer(), nullable=False),
        sa.Column('sender_key', sa.String(length=64), nullable=False),
        sa.Column('new_thread', sa.Boolean(), nullable=False),
        sa.Column('received_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['page_id'], ['pages.id'], name=op.f('fk_mail_messages_page_id_pages'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('message_id', name=op.f('pk_mail_messages')),
    )
    op.create_index(op.f('ix_mail_messages_page_id'), 'mail_messages', ['page_id'], unique=False)
    op.create_index('ix_mail_messages_sender_received', 'mail_messages', ['sender_key', 'received_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_mail_messages_sender_received', table_name='mail_messages')
    op.drop_index(op.f('ix_mail_messages_page_id'), table_name='mail_messages')
    op.drop_table('mail_messages')
    op.drop_table('mailboxes')
