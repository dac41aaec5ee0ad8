"""Alembic's environment: the connection standin.migrate opens through the service's own DATABASE_URL.

No schema is named anywhere: the table and alembic_version go to the first schema of the connection's
search_path, as a real EnGarde service's migrations do.
"""

from alembic import context

context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
