"""SQLite connection setup, transactions and versioned schema migrations.

WAL mode lets readers (dashboards, `perps-bot account`) look while the bot writes; `synchronous=FULL`
makes an order write survive power loss before we send the order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

Migration = Callable[[sqlite3.Connection], None]


def open_database(path: Path | str, *, synchronous: str = "FULL") -> sqlite3.Connection:
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"synchronous must be one of OFF, NORMAL, FULL, EXTRA; got {synchronous!r}")
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic, durable commit for several statements; joins an enclosing transaction if any.

    A crash mid-way leaves nothing half-written (e.g. an order row without its transition row).
    """
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def execute_all(conn: sqlite3.Connection, statements: Sequence[str]) -> None:
    """Run DDL statements one by one inside the caller's transaction (executescript would commit)."""
    for statement in statements:
        conn.execute(statement)


def schema_version(conn: sqlite3.Connection, component: str) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_versions WHERE component=?", (component,)).fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[Migration]) -> int:
    """Apply, in order, every migration of `component` not yet applied; returns the new version.

    Each component keeps its own version row so stores can share one database file. Each step runs in
    its own transaction with its version bump, so a crash mid-migration resumes at that step.
    """
    target = len(migrations)
    while True:
        # Read the version inside the write lock: another process (a second bot, a CLI reader) may be
        # migrating the same file at this moment, and a version read outside the lock goes stale.
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = schema_version(conn, component)
            if current > target:
                raise RuntimeError(
                    f"database schema for {component!r} is version {current}, newer than this code knows "
                    f"({target}); refusing to run an older bot against a newer store"
                )
            if current == target:
                conn.execute("COMMIT")
                return target
            migrations[current](conn)
            conn.execute(
                "INSERT INTO schema_versions(component, version) VALUES(?, ?) "
                "ON CONFLICT(component) DO UPDATE SET version=excluded.version",
                (component, current + 1),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
