"""the outbox's reach key; the test page's alert in its frozen plan

Revision ID: 0006
Revises: 0005

A failed page falls back to the person's other channels under its reach key. Until now the fallback
parsed the reach out of the message's key; existing pages and digests get it from their keys here, once.

The weekly test page's "tell the managers if unconfirmed" was a check of the page's source; it is now a
flag on the steps of its plan, so the test pages already stored get it here (every step after the first).
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reach_key', sa.String(length=255), nullable=True))
    notifications = sa.table('notifications', sa.column('id', sa.Integer), sa.column('key', sa.String),
                             sa.column('kind', sa.String), sa.column('reach_key', sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(notifications.c.id, notifications.c.key, notifications.c.kind)
                              .where(notifications.c.kind.in_(('page', 'digest')))).all()
    for row in rows:
        # A page's key is its reach and its channel; a digest's fallbacks were queued under "<key>:fallback".
        reach = row.key.rsplit(':', 1)[0] if row.kind == 'page' else f'{row.key}:fallback'
        connection.execute(sa.update(notifications).where(notifications.c.id == row.id).values(reach_key=reach))
    pages = sa.table('pages', sa.column('id', sa.Integer), sa.column('source', sa.String),
                     sa.column('plan', sa.JSON))
    for page in connection.execute(sa.select(pages.c.id, pages.c.plan).where(pages.c.source == 'test')).all():
        plan = dict(page.plan)
        plan['steps'] = [{**step, 'alert': True} if index > 0 else step for index, step in enumerate(plan['steps'])]
        connection.execute(sa.update(pages).where(pages.c.id == page.id).values(plan=plan))


def downgrade() -> None:
    # The alert flags may stay in the plans: the code before this revision ignores them.
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('reach_key')
