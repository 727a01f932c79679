"""Small durable key -> JSON document store (guard state, day-start equity, peak equity...)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gpt_trader.persistence.sqlite import migrate


def _v1(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)")


#: the risk manager's guard-state document (features/live_trade/risk/state.py STATE_KEY)
RISK_STATE_KEY = "risk.guard_state"


def _v2(conn: sqlite3.Connection) -> None:
    """Guard state: the two latch flags (`reduce_only`, `halted` and their reasons) become one trading
    mode (`mode` active | reducing | halted, `mode_reason`, `mode_since`, `mode_guard`). A halt wins over
    reduce-only, as it did; the guard is the reason's `name:` prefix when it has one."""
    row = conn.execute("SELECT value FROM state WHERE key=?", (RISK_STATE_KEY,)).fetchone()
    if row is None:
        return
    try:
        doc = json.loads(row[0])
    except ValueError:
        return  # unreadable: the risk manager starts latched reduce-only on it, as before
    if not isinstance(doc, dict) or "mode" in doc:
        return
    halted = doc.pop("halted", False) is True
    reduce_only = doc.pop("reduce_only", False) is True
    halt_reason = str(doc.pop("halt_reason", "") or "")
    reduce_reason = str(doc.pop("reduce_only_reason", "") or "")
    reason = halt_reason if halted else (reduce_reason if reduce_only else "")
    head, sep, _ = reason.partition(":")
    doc["mode"] = "halted" if halted else ("reducing" if reduce_only else "active")
    doc["mode_reason"] = reason
    doc["mode_since"] = None
    doc["mode_guard"] = head.strip() if sep and head.strip().isidentifier() else None
    conn.execute(
        "UPDATE state SET value=?, updated_at=datetime('now') WHERE key=?",
        (json.dumps(doc, sort_keys=True), RISK_STATE_KEY),
    )


MIGRATIONS = [_v1, _v2]


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
