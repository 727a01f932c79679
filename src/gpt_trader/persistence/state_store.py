"""Small durable key -> JSON document store (guard state, day-start equity, peak equity...)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gpt_trader.persistence.sqlite import migrate


def _v1(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)")


MIGRATIONS = [_v1]


class StateStore:
    """SQLite implementation of `persistence.interfaces.StateStoreProtocol`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        migrate(conn, "state_store", MIGRATIONS)

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._conn.execute(
            "INSERT INTO state(key, value, updated_at) VALUES(?, ?, datetime('now')) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
            (key, json.dumps(value, sort_keys=True, default=str)),
        )

    def delete(self, key: str) -> None:
        self._conn.execute("DELETE FROM state WHERE key=?", (key,))

    def keys(self, prefix: str = "") -> list[str]:
        rows = self._conn.execute("SELECT key FROM state WHERE key LIKE ? ORDER BY key", (prefix + "%",))
        return [r[0] for r in rows]
