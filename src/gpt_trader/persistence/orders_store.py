"""OrdersStore: every order, its lifecycle transitions and its fills, plus what reconciliation needs.

The intent is written (PENDING_SUBMIT) before the order is sent and updated after, with
`synchronous=FULL`, so a crash at any point leaves a record to reconcile by `client_order_id`.
Schema v2 adds: the order's origin (bot intent or adopted from the exchange), sync cursors (last fill
seen), the holdings baseline (what the account held that is not the bot's) and position adjustments
(explicit `reconcile --accept-exchange` corrections), so the bot's ledger can be rebuilt after a crash.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from gpt_trader.features.brokerages.core.interfaces import (
    Fill,
    Liquidity,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from gpt_trader.persistence.sqlite import execute_all, migrate, transaction


def _v1(conn: sqlite3.Connection) -> None:
    execute_all(
        conn,
        [
            """CREATE TABLE orders (
            client_order_id TEXT PRIMARY KEY,
            intent_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            order_id TEXT,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL,
            order_type TEXT NOT NULL,
            time_in_force TEXT NOT NULL,
            size TEXT NOT NULL,
            limit_price TEXT,
            status TEXT NOT NULL,
            filled_size TEXT NOT NULL DEFAULT '0',
            avg_fill_price TEXT,
            fees TEXT NOT NULL DEFAULT '0',
            reject_reason TEXT,
            request_json TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
            """CREATE INDEX orders_status ON orders(status)""",
            """CREATE INDEX orders_order_id ON orders(order_id)""",
            """CREATE TABLE order_transitions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            client_order_id TEXT NOT NULL REFERENCES orders(client_order_id),
            from_status TEXT,
            to_status TEXT NOT NULL,
            at TEXT NOT NULL,
            note TEXT
        )""",
            """CREATE TABLE fills (
            trade_id TEXT PRIMARY KEY,
            order_id TEXT NOT NULL,
            client_order_id TEXT,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL,
            price TEXT NOT NULL,
            size TEXT NOT NULL,
            fee TEXT NOT NULL,
            liquidity TEXT NOT NULL,
            ts TEXT NOT NULL
        )""",
            """CREATE INDEX fills_order ON fills(order_id)""",
        ],
    )


def _v2(conn: sqlite3.Connection) -> None:
    execute_all(
        conn,
        [
            "ALTER TABLE orders ADD COLUMN origin TEXT NOT NULL DEFAULT 'bot'",
            "CREATE INDEX orders_intent ON orders(intent_id)",
            "CREATE INDEX fills_ts ON fills(ts)",
            """CREATE TABLE sync_cursors (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
            """CREATE TABLE holdings_baseline (
            asset TEXT PRIMARY KEY,
            amount TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
            """CREATE TABLE position_adjustments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL,
            size TEXT NOT NULL,
            price TEXT NOT NULL,
            reason TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        ],
    )


def _v3(conn: sqlite3.Connection) -> None:
    # What the bot and the exchange held at the last reconciliation: dashboards and post-mortems read it
    # without asking the exchange.
    conn.execute(
        """CREATE TABLE positions_snapshot (
            key TEXT PRIMARY KEY,
            symbols TEXT NOT NULL,
            store_size TEXT NOT NULL,
            exchange_size TEXT NOT NULL,
            at TEXT NOT NULL
        )"""
    )


MIGRATIONS = [_v1, _v2, _v3]

ORIGIN_BOT = "bot"
ORIGIN_ADOPTED = "adopted"
FILL_CURSOR = "fills.last_ts"


class StoredOrder(msgspec.Struct, kw_only=True):
    client_order_id: str
    intent_id: str
    session_id: str
    order_id: str | None
    symbol: str
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    size: Decimal
    limit_price: Decimal | None
    status: OrderStatus
    filled_size: Decimal
    avg_fill_price: Decimal | None
    fees: Decimal
    reject_reason: str | None
    created_at: str
    updated_at: str
    origin: str = ORIGIN_BOT

    @property
    def is_working(self) -> bool:
        return self.status.is_working

    def to_order(self) -> Order:
        """The stored view as a domain Order (for tracking until the venue answers)."""
        return Order(
            order_id=self.order_id or "",
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            size=self.size,
            status=self.status,
            time_in_force=self.time_in_force,
            limit_price=self.limit_price,
            filled_size=self.filled_size,
            avg_fill_price=self.avg_fill_price,
            fees=self.fees,
            reject_reason=self.reject_reason,
        )


class PositionAdjustment(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    symbol: str
    side: OrderSide
    size: Decimal
    price: Decimal
    reason: str
    at: datetime

    def as_fill(self) -> Fill:
        """Adjustments replay through the ledger like a fee-free fill, in time order with real fills."""
        return Fill(
            trade_id=f"adjustment:{self.id}",
            order_id=f"adjustment:{self.id}",
            symbol=self.symbol,
            side=self.side,
            price=self.price,
            size=self.size,
            fee=Decimal(0),
            liquidity=Liquidity.TAKER,
            ts=self.at,
        )


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(v)


class OrdersStore:
    """SQLite implementation of `persistence.interfaces.OrdersStoreProtocol`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        migrate(conn, "orders_store", MIGRATIONS)

    def record_intent(self, request: OrderRequest, *, intent_id: str, session_id: str, at: datetime) -> bool:
        """Write the order before it is sent. Returns False if this client_order_id already exists
        (a resend of the same intent), in which case nothing changes."""
        if not request.client_order_id:
            raise ValueError("record_intent needs a request with a client_order_id")
        with transaction(self._conn):
            return self._insert_intent(request, intent_id=intent_id, session_id=session_id, at=at)

    def _insert_intent(self, request: OrderRequest, *, intent_id: str, session_id: str, at: datetime) -> bool:
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO orders(client_order_id, intent_id, session_id, symbol, side, order_type, "
            "time_in_force, size, limit_price, status, request_json, created_at, updated_at) "
            "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                request.client_order_id,
                intent_id,
                session_id,
                request.symbol,
                request.side.value,
                request.order_type.value,
                request.time_in_force.value,
                str(request.size if request.size is not None else request.quote_size),
                None if request.limit_price is None else str(request.limit_price),
                OrderStatus.PENDING_SUBMIT.value,
                msgspec.json.encode(request).decode(),
                at.isoformat(),
                at.isoformat(),
            ),
        )
        if cur.rowcount:
            self._transition_row(request.client_order_id, None, OrderStatus.PENDING_SUBMIT, at, "intent recorded")
        return bool(cur.rowcount)

    def update_from_order(self, order: Order, *, at: datetime, note: str | None = None) -> None:
        """Persist the venue's view of an order; records a transition row when the status moved."""
        with transaction(self._conn):
            self._update_from_order(order, at=at, note=note)

    def _update_from_order(self, order: Order, *, at: datetime, note: str | None) -> None:
        row = self._conn.execute(
            "SELECT status FROM orders WHERE client_order_id=?", (order.client_order_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"order {order.client_order_id} was never recorded as an intent")
        self._conn.execute(
            "UPDATE orders SET order_id=?, status=?, filled_size=?, avg_fill_price=?, fees=?, "
            "reject_reason=?, "
            "updated_at=? WHERE client_order_id=?",
            (
                order.order_id or None,
                order.status.value,
                str(order.filled_size),
                None if order.avg_fill_price is None else str(order.avg_fill_price),
                str(order.fees),
                order.reject_reason,
                at.isoformat(),
                order.client_order_id,
            ),
        )
        if row[0] != order.status.value:
            self._transition_row(order.client_order_id, OrderStatus(row[0]), order.status, at, note)

    def mark_status(
        self, client_order_id: str, status: OrderStatus, *, at: datetime, reason: str | None = None
    ) -> None:
        with transaction(self._conn):
            self._mark_status(client_order_id, status, at=at, reason=reason)

    def _mark_status(self, client_order_id: str, status: OrderStatus, *, at: datetime, reason: str | None) -> None:
        row = self._conn.execute("SELECT status FROM orders WHERE client_order_id=?", (client_order_id,)).fetchone()
        if row is None:
            raise KeyError(client_order_id)
        self._conn.execute(
            "UPDATE orders SET status=?, reject_reason=COALESCE(?, reject_reason), updated_at=? "
            "WHERE client_order_id=?",
            (status.value, reason, at.isoformat(), client_order_id),
        )
        if row[0] != status.value:
            self._transition_row(client_order_id, OrderStatus(row[0]), status, at, reason)

    def _transition_row(
        self, coid: str, old: OrderStatus | None, new: OrderStatus, at: datetime, note: str | None
    ) -> None:
        self._conn.execute(
            "INSERT INTO order_transitions(client_order_id, from_status, to_status, at, note) VALUES(?,?,?,?,?)",
            (coid, None if old is None else old.value, new.value, at.isoformat(), note),
        )

    def add_fills(self, fills: Iterable[Fill]) -> list[Fill]:
        """Store fills, ignoring ones already known (by trade_id). Returns the new ones."""
        with transaction(self._conn):
            return self._add_fills(fills)

    def _add_fills(self, fills: Iterable[Fill]) -> list[Fill]:
        new: list[Fill] = []
        for f in fills:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO fills(trade_id, order_id, client_order_id, symbol, side, price, "
                "size, fee, "
                "liquidity, ts) VALUES(?,?,?,?,?,?,?,?,?,?)",
                (
                    f.trade_id,
                    f.order_id,
                    f.client_order_id,
                    f.symbol,
                    f.side.value,
                    str(f.price),
                    str(f.size),
                    str(f.fee),
                    f.liquidity.value,
                    f.ts.isoformat(),
                ),
            )
            if cur.rowcount:
                new.append(f)
        if new:
            latest = max(f.ts for f in new).astimezone(UTC).isoformat()  # one offset: string order = time order
            self._conn.execute(
                "INSERT INTO sync_cursors(name, value, updated_at) VALUES(?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET "
                "value=MAX(value, excluded.value), updated_at=excluded.updated_at",
                (FILL_CURSOR, latest, latest),
            )
        return new

    def adopt_external(self, order: Order, *, session_id: str, at: datetime, note: str) -> str:
        """Record an exchange order the store never saw (reconciliation 'adopt'); returns its key.

        Orders without a client_order_id are keyed by their exchange id so the row is still unique.
        """
        key = order.client_order_id or f"exchange:{order.order_id}"
        request = OrderRequest(
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            size=order.size,
            limit_price=order.limit_price,
            time_in_force=order.time_in_force,
            client_order_id=key,
        )
        stored = msgspec.structs.replace(order, client_order_id=key)
        with transaction(self._conn):
            self._insert_intent(request, intent_id=f"adopted:{order.order_id}", session_id=session_id, at=at)
            self._conn.execute("UPDATE orders SET origin=? WHERE client_order_id=?", (ORIGIN_ADOPTED, key))
            self._update_from_order(stored, at=at, note=note)
        return key

    # ---- reconciliation state
    def request_for(self, client_order_id: str) -> OrderRequest | None:
        """The exact request recorded before sending, so a resend is byte-for-byte the same order."""
        row = self._conn.execute(
            "SELECT request_json FROM orders WHERE client_order_id=?", (client_order_id,)
        ).fetchone()
        return None if row is None else msgspec.json.decode(row[0], type=OrderRequest)

    def pending_submits(self) -> list[tuple[StoredOrder, OrderRequest]]:
        out = []
        for stored in self.list_orders(statuses=[OrderStatus.PENDING_SUBMIT]):
            request = self.request_for(stored.client_order_id)
            if request is not None:
                out.append((stored, request))
        return out

    def get_by_order_id(self, order_id: str) -> StoredOrder | None:
        row = self._conn.execute("SELECT * FROM orders WHERE order_id=? ORDER BY rowid LIMIT 1", (order_id,)).fetchone()
        return None if row is None else self._row(row)

    def last_fill_ts(self) -> datetime | None:
        row = self._conn.execute("SELECT value FROM sync_cursors WHERE name=?", (FILL_CURSOR,)).fetchone()
        if row is not None:
            return datetime.fromisoformat(row[0])
        row = self._conn.execute("SELECT MAX(ts) FROM fills").fetchone()
        return None if row is None or row[0] is None else datetime.fromisoformat(row[0])

    def first_order_ts(self) -> datetime | None:
        row = self._conn.execute("SELECT MIN(created_at) FROM orders").fetchone()
        return None if row is None or row[0] is None else datetime.fromisoformat(row[0])

    def has_fill(self, trade_id: str) -> bool:
        return self._conn.execute("SELECT 1 FROM fills WHERE trade_id=?", (trade_id,)).fetchone() is not None

    def baseline(self) -> dict[str, Decimal] | None:
        """Holdings that are not the bot's (recorded at the first reconciliation); None if never set."""
        rows = self._conn.execute("SELECT asset, amount FROM holdings_baseline").fetchall()
        if not rows:
            marker = self._conn.execute("SELECT value FROM sync_cursors WHERE name='baseline.set'").fetchone()
            return {} if marker is not None else None
        return {r[0]: Decimal(r[1]) for r in rows}

    def set_baseline(self, amounts: dict[str, Decimal], *, at: datetime) -> None:
        with transaction(self._conn):
            self._conn.execute("DELETE FROM holdings_baseline")
            for asset, amount in sorted(amounts.items()):
                self._conn.execute(
                    "INSERT INTO holdings_baseline(asset, amount, at) VALUES(?,?,?)",
                    (asset, str(amount), at.isoformat()),
                )
            self._conn.execute(
                "INSERT INTO sync_cursors(name, value, updated_at) VALUES('baseline.set', ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                (at.isoformat(), at.isoformat()),
            )

    def add_adjustment(self, symbol: str, delta: Decimal, *, price: Decimal, reason: str, at: datetime) -> int:
        """Record an explicit correction of the bot's position (signed base size)."""
        if delta == 0:
            raise ValueError("a position adjustment needs a non-zero size")
        side = OrderSide.BUY if delta > 0 else OrderSide.SELL
        with transaction(self._conn):
            cur = self._conn.execute(
                "INSERT INTO position_adjustments(symbol, side, size, price, reason, at) VALUES(?,?,?,?,?,?)",
                (symbol, side.value, str(abs(delta)), str(price), reason, at.isoformat()),
            )
        return int(cur.lastrowid or 0)

    def adjustments(self) -> list[PositionAdjustment]:
        return [
            PositionAdjustment(
                id=r["id"],
                symbol=r["symbol"],
                side=OrderSide(r["side"]),
                size=Decimal(r["size"]),
                price=Decimal(r["price"]),
                reason=r["reason"],
                at=datetime.fromisoformat(r["at"]),
            )
            for r in self._conn.execute("SELECT * FROM position_adjustments ORDER BY id")
        ]

    def save_positions_snapshot(
        self, rows: Iterable[tuple[str, Sequence[str], Decimal, Decimal]], *, at: datetime
    ) -> None:
        """Replace the snapshot with (key, symbols, bot size, exchange size) rows."""
        with transaction(self._conn):
            self._conn.execute("DELETE FROM positions_snapshot")
            for key, symbols, mine, theirs in rows:
                self._conn.execute(
                    "INSERT INTO positions_snapshot(key, symbols, store_size, exchange_size, at) VALUES(?,?,?,?,?)",
                    (key, ",".join(symbols), str(mine), str(theirs), at.isoformat()),
                )

    def positions_snapshot(self) -> dict[str, tuple[Decimal, Decimal]]:
        """key -> (bot size, exchange size) as of the last reconciliation."""
        rows = self._conn.execute("SELECT key, store_size, exchange_size FROM positions_snapshot ORDER BY key")
        return {r[0]: (Decimal(r[1]), Decimal(r[2])) for r in rows}

    def ledger_entries(self) -> list[Fill]:
        """Every fill and adjustment in time order: replaying them rebuilds the bot's positions."""
        entries = self.fills() + [a.as_fill() for a in self.adjustments()]
        return sorted(entries, key=lambda f: f.ts)

    # ---- reads
    def get(self, client_order_id: str) -> StoredOrder | None:
        row = self._conn.execute("SELECT * FROM orders WHERE client_order_id=?", (client_order_id,)).fetchone()
        return None if row is None else self._row(row)

    def list_orders(
        self, *, statuses: Iterable[OrderStatus] | None = None, session_id: str | None = None
    ) -> list[StoredOrder]:
        sql = "SELECT * FROM orders WHERE 1=1"
        args: list[Any] = []
        if statuses is not None:
            values = [s.value for s in statuses]
            sql += f" AND status IN ({','.join('?' * len(values))})"
            args += values
        if session_id is not None:
            sql += " AND session_id=?"
            args.append(session_id)
        return [self._row(r) for r in self._conn.execute(sql + " ORDER BY created_at, rowid", args)]

    def open_orders(self) -> list[StoredOrder]:
        return self.list_orders(statuses=[s for s in OrderStatus if not s.is_terminal])

    def transitions(self, client_order_id: str) -> list[tuple[str | None, str]]:
        rows = self._conn.execute(
            "SELECT from_status, to_status FROM order_transitions WHERE client_order_id=? ORDER BY id",
            (client_order_id,),
        )
        return [(r[0], r[1]) for r in rows]

    def fills(self, *, symbol: str | None = None, order_id: str | None = None) -> list[Fill]:
        sql, args = "SELECT * FROM fills WHERE 1=1", []
        if symbol:
            sql += " AND symbol=?"
            args.append(symbol)
        if order_id:
            sql += " AND order_id=?"
            args.append(order_id)
        out = []
        for r in self._conn.execute(sql + " ORDER BY ts, rowid", args):
            out.append(
                Fill(
                    trade_id=r["trade_id"],
                    order_id=r["order_id"],
                    client_order_id=r["client_order_id"] or "",
                    symbol=r["symbol"],
                    side=OrderSide(r["side"]),
                    price=Decimal(r["price"]),
                    size=Decimal(r["size"]),
                    fee=Decimal(r["fee"]),
                    liquidity=Liquidity(r["liquidity"]),
                    ts=datetime.fromisoformat(r["ts"]),
                )
            )
        return out

    @staticmethod
    def _row(r: sqlite3.Row) -> StoredOrder:
        return StoredOrder(
            client_order_id=r["client_order_id"],
            intent_id=r["intent_id"],
            session_id=r["session_id"],
            order_id=r["order_id"],
            symbol=r["symbol"],
            side=OrderSide(r["side"]),
            order_type=OrderType(r["order_type"]),
            time_in_force=TimeInForce(r["time_in_force"]),
            size=Decimal(r["size"]),
            limit_price=_dec(r["limit_price"]),
            status=OrderStatus(r["status"]),
            filled_size=Decimal(r["filled_size"]),
            avg_fill_price=_dec(r["avg_fill_price"]),
            fees=Decimal(r["fees"]),
            reject_reason=r["reject_reason"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            origin=r["origin"] if "origin" in r.keys() else ORIGIN_BOT,  # noqa: SIM118 (sqlite3.Row)
        )
