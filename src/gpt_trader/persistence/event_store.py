"""EventStore: the append-only journal of a session (decisions, risk results, orders, fills, guard
trips, corrections, config snapshot). Replays and post-mortems read it; nothing updates it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from gpt_trader.persistence.sqlite import execute_all, migrate


def _v1(conn: sqlite3.Connection) -> None:
    execute_all(
        conn,
        [
            """CREATE TABLE events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                session_id TEXT NOT NULL,
                ts TEXT NOT NULL,
                kind TEXT NOT NULL,
                symbol TEXT,
                payload TEXT NOT NULL
            )""",
            "CREATE INDEX events_session ON events(session_id, id)",
            "CREATE INDEX events_kind ON events(kind)",
            """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
                BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
            """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
                BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
        ],
    )


def _v2(conn: sqlite3.Connection) -> None:
    # Replay and reconciliation read one session's events of one kind.
    conn.execute("CREATE INDEX events_session_kind ON events(session_id, kind, id)")


MIGRATIONS = [_v1, _v2]


class EventStore:
    """SQLite implementation of `persistence.interfaces.EventStoreProtocol`."""

    def __init__(self, conn: sqlite3.Connection, session_id: str) -> None:
        self._conn = conn
        self.session_id = session_id
        migrate(conn, "event_store", MIGRATIONS)

    def append(self, kind: str, payload: dict[str, Any], *, ts: datetime, symbol: str | None = None) -> int:
        cur = self._conn.execute(
            "INSERT INTO events(session_id, ts, kind, symbol, payload) VALUES(?,?,?,?,?)",
            (self.session_id, ts.isoformat(), kind, symbol, json.dumps(payload, sort_keys=True, default=str)),
        )
        return int(cur.lastrowid or 0)

    def iter_events(self, *, session_id: str | None = None, kind: str | None = None) -> Iterator[dict[str, Any]]:
        sql, args = "SELECT * FROM events WHERE session_id=?", [session_id or self.session_id]
        if kind:
            sql += " AND kind=?"
            args.append(kind)
        for r in self._conn.execute(sql + " ORDER BY id", args):
            yield {
                "id": r["id"],
                "session_id": r["session_id"],
                "ts": r["ts"],
                "kind": r["kind"],
                "symbol": r["symbol"],
                "payload": json.loads(r["payload"]),
            }

    def count(self, kind: str | None = None) -> int:
        if kind:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM events WHERE session_id=? AND kind=?", (self.session_id, kind)
            ).fetchone()
        else:
            row = self._conn.execute("SELECT COUNT(*) FROM events WHERE session_id=?", (self.session_id,)).fetchone()
        return int(row[0])

    def sessions(self) -> list[str]:
        rows = self._conn.execute("SELECT session_id, MIN(id) AS first FROM events GROUP BY session_id ORDER BY first")
        return [r[0] for r in rows]

    def latest(self, kind: str, *, session_id: str | None = None) -> dict[str, Any] | None:
        """The newest event of `kind` (in any session unless one is named)."""
        sql, args = "SELECT * FROM events WHERE kind=?", [kind]
        if session_id is not None:
            sql += " AND session_id=?"
            args.append(session_id)
        r = self._conn.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
        if r is None:
            return None
        return {
            "id": r["id"],
            "session_id": r["session_id"],
            "ts": r["ts"],
            "kind": r["kind"],
            "symbol": r["symbol"],
            "payload": json.loads(r["payload"]),
        }
