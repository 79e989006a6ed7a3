"""Alembic environment: uses the connection the service hands over, else `CDS_DATABASE_URL`."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from cds_service.storage.schema import metadata

config = context.config
target_metadata = metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = os.environ.get("CDS_DATABASE_URL", "sqlite:///./cds_service.db")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    url = os.environ.get("CDS_DATABASE_URL", "sqlite:///./cds_service.db")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
