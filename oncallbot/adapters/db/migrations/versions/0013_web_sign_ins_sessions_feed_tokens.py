"""the web view's sign-in links and sessions, and the calendar feeds' tokens

Revision ID: 0013
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

import oncallbot.adapters.db.types

revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None

UTC_DATETIME = oncallbot.adapters.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('web_sign_ins',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('person_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTC_DATETIME, nullable=False),
        sa.Column('used_at', UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_web_sign_ins')),
    )
    op.create_table('web_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('person_id', sa.String(length=64), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTC_DATETIME, nullable=False),
        sa.Column('expires_at', UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_web_sessions')),
    )
    op.create_index(op.f('ix_web_sessions_person_id'), 'web_sessions', ['person_id'], unique=False)
    op.create_table('feed_tokens',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('person_id', sa.String(length=64), nullable=False),
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('created_at', UTC_DATETIME, nullable=False),
        sa.Column('revoked_at', UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_feed_tokens')),
    )
    op.create_index(op.f('ix_feed_tokens_person_id'), 'feed_tokens', ['person_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_feed_tokens_person_id'), table_name='feed_tokens')
    op.drop_table('feed_tokens')
    op.drop_index(op.f('ix_web_sessions_person_id'), table_name='web_sessions')
    op.drop_table('web_sessions')
    op.drop_table('web_sign_ins')
