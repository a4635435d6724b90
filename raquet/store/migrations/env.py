"""Alembic's entry point: migrations run on the connection raquet hands over (migrate.py),
never on a URL of their own, so the backup, the lock and the checks around them hold."""

from alembic import context

from raquet.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
