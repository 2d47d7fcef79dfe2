"""Alembic environment: migrations run on the connection the metadata store hands over."""

from __future__ import annotations

from alembic import context

from limelight.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the store always passes its connection
    raise RuntimeError("Limelight migrations run through limelight.store.MetadataStore")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
