"""The store interfaces callers depend on. SQLite implements them today; a server database would
implement the same Protocols and be passed in instead, without touching execution or reconciliation."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from gpt_trader.features.brokerages.core.interfaces import Fill, Order, OrderRequest, OrderStatus

if TYPE_CHECKING:
    from gpt_trader.persistence.orders_store import PositionAdjustment, StoredOrder


@runtime_checkable
class OrdersStoreProtocol(Protocol):
    """Orders, transitions, fills and reconciliation state. Every write is durable when it returns."""

    def record_intent(
        self, request: OrderRequest, *, intent_id: str, session_id: str, at: datetime
    ) -> bool: ...

    def update_from_order(self, order: Order, *, at: datetime, note: str | None = None) -> None: ...

    def mark_status(
        self, client_order_id: str, status: OrderStatus, *, at: datetime, reason: str | None = None
    ) -> None: ...

    def add_fills(self, fills: Iterable[Fill]) -> list[Fill]: ...

    def adopt_external(self, order: Order, *, session_id: str, at: datetime, note: str) -> str: ...

    def get(self, client_order_id: str) -> StoredOrder | None: ...

    def get_by_order_id(self, order_id: str) -> StoredOrder | None: ...

    def list_orders(
        self, *, statuses: Iterable[OrderStatus] | None = None, session_id: str | None = None
    ) -> list[StoredOrder]: ...

    def open_orders(self) -> list[StoredOrder]: ...

    def request_for(self, client_order_id: str) -> OrderRequest | None: ...

    def pending_submits(self) -> list[tuple[StoredOrder, OrderRequest]]: ...

    def transitions(self, client_order_id: str) -> list[tuple[str | None, str]]: ...

    def fills(self, *, symbol: str | None = None, order_id: str | None = None) -> list[Fill]: ...

    def has_fill(self, trade_id: str) -> bool: ...

    def first_order_ts(self) -> datetime | None: ...

    def last_fill_ts(self) -> datetime | None: ...

    def baseline(self) -> dict[str, Decimal] | None: ...

    def set_baseline(self, amounts: dict[str, Decimal], *, at: datetime) -> None: ...

    def add_adjustment(
        self, symbol: str, delta: Decimal, *, price: Decimal, reason: str, at: datetime
    ) -> int: ...

    def adjustments(self) -> list[PositionAdjustment]: ...

    def ledger_entries(self) -> list[Fill]: ...


@runtime_checkable
class EventStoreProtocol(Protocol):
    """Append-only journal of one session; reads may span sessions."""

    session_id: str

    def append(
        self, kind: str, payload: dict[str, Any], *, ts: datetime, symbol: str | None = None
    ) -> int: ...

    def iter_events(
        self, *, session_id: str | None = None, kind: str | None = None
    ) -> Iterator[dict[str, Any]]: ...

    def count(self, kind: str | None = None) -> int: ...

    def sessions(self) -> list[str]: ...

    def latest(self, kind: str, *, session_id: str | None = None) -> dict[str, Any] | None: ...


@runtime_checkable
class StateStoreProtocol(Protocol):
    """Key -> JSON document (risk guard state and similar)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None: ...

    def delete(self, key: str) -> None: ...

    def keys(self, prefix: str = "") -> list[str]: ...
