"""Storage: one repository interface, SQLite (default) and PostgreSQL backends."""

from __future__ import annotations

from pathlib import Path

from chargemesh.store.repository import (
    ExcludedDowntime,
    FeedHealth,
    InboxMessage,
    OcpiObject,
    OcpiParty,
    OperatorCounts,
    Outcome,
    RegistryCounts,
    StatusRecord,
    StatusResult,
    StatusUpdate,
    Store,
    StoreCorrupt,
    StoreError,
    StoreIntegrityError,
    StoreUnavailable,
    StoreUrlError,
    UpsertResult,
)

__all__ = [
    "ExcludedDowntime",
    "FeedHealth",
    "InboxMessage",
    "OcpiObject",
    "OcpiParty",
    "OperatorCounts",
    "Outcome",
    "RegistryCounts",
    "StatusRecord",
    "StatusResult",
    "StatusUpdate",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreIntegrityError",
    "StoreUnavailable",
    "StoreUrlError",
    "UpsertResult",
    "open_store",
]


def open_store(
    url: str, *, migrate: bool = True, base_dir: Path | None = None, bulk: bool = False
) -> Store:
    """Open the store a URL names, bringing its schema up to date unless told not to.

    ``sqlite:///relative/path.db`` is relative to ``base_dir`` (default: the current
    directory); ``sqlite:////absolute/path.db`` is absolute; ``postgresql://…`` is any
    libpq URL (e.g. ``?options=-csearch_path%3Dmyschema`` to use a schema). ``bulk``: a
    process that writes a whole registry and keeps no index (SQLite's page cache is larger).
    """
    if url.startswith("sqlite:///"):
        from chargemesh.store.sqlite import BULK_CACHE_MB, CACHE_MB, SqliteStore

        raw = url.removeprefix("sqlite:///")
        if not raw or raw.endswith("/"):
            raise StoreUrlError(f"store URL {url!r} names no database file")
        path = Path(raw)
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        sqlite_store = SqliteStore(url, path, cache_mb=BULK_CACHE_MB if bulk else CACHE_MB)
        if migrate:
            sqlite_store.migrate()
        return sqlite_store
    if url.startswith(("postgresql://", "postgres://")):
        from chargemesh.store.postgres import PostgresStore

        pg_store = PostgresStore(url)
        if migrate:
            pg_store.migrate()
        return pg_store
    scheme = url.partition(":")[0] or url
    raise StoreUrlError(
        f"store URL {url!r}: unknown scheme {scheme!r}; use sqlite:///FILE or postgresql://HOST/DB"
    )
