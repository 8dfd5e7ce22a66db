"""The store: the only package that imports SQLAlchemy.

`Store` and `StoreTx` load SQLAlchemy when first asked for, so the modules of this package that do without it
(schema.py, rotation_reader.py: what `oncallbot who` needs on a current database) start without it."""

from typing import TYPE_CHECKING, Any

from .schema import default_database_url

if TYPE_CHECKING:
    from .store import Store, StoreTx

__all__ = ["Store", "StoreTx", "default_database_url"]


def __getattr__(name: str) -> Any:
    if name in ("Store", "StoreTx"):
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
