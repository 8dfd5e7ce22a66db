"""The store: the only package that imports SQLAlchemy."""

from .store import Store, StoreTx, default_database_url

__all__ = ["Store", "StoreTx", "default_database_url"]
