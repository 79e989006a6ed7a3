"""Alembic migrations of the audit/feedback/replay schema, shipped inside the package."""
