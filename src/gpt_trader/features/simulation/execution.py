"""`SimulatedExecution`: the Execution + Account parts of a venue over one MatchingEngine account."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from gpt_trader.features.brokerages.core.interfaces import (
    Balance,
    BrokerageError,
    Fill,
    Order,
    OrderRequest,
    Position,
)
from gpt_trader.features.brokerages.core.matching import MatchingEngine

log = logging.getLogger(__name__)


class SimulatedExecution(ABC):
    """Place, cancel, amend and look up orders, fills, balances and positions of `account_id` on a
    MatchingEngine. Why: the mock, paper and backtest venues share one fill model, so they share one
    wrapper over it instead of three drifting copies. A venue subclasses it and provides
    `matching_engine()`; `before_call(name)` runs before each call (fault injection, syncing a book);
    `submit_order` places a request (override to prepare it first)."""

    account_id: str

    @abstractmethod
    def matching_engine(self) -> MatchingEngine:
        """The engine this venue's orders trade on."""

    def before_call(self, name: str) -> None:  # noqa: B027 - an optional hook: doing nothing is the default
        """Hook before every execution/account call; the default does nothing."""

    def submit_order(self, request: OrderRequest) -> Order:
        return self.matching_engine().submit(self.account_id, request).order

    async def place_order(self, request: OrderRequest) -> Order:
        self.before_call("place_order")
        return self.submit_order(request)

    async def cancel_orders(self, order_ids: Sequence[str]) -> dict[str, bool]:
        """Per order: True when this call cancelled it; unknown or already final orders are False (the venue
        reports per-order failure rather than raising)."""
        self.before_call("cancel_orders")
        out: dict[str, bool] = {}
        for oid in order_ids:
            try:
                self.matching_engine().cancel(self.account_id, oid)
                out[oid] = True
            except BrokerageError as exc:
                log.info("simulated cancel of %s refused: %s", oid, exc.reason)
                out[oid] = False
        return out

    async def edit_order(
        self,
        order_id: str,
        *,
        size: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> Order:
        self.before_call("edit_order")
        return self.matching_engine().edit(self.account_id, order_id, size=size, price=price, stop_price=stop_price)

    async def get_order(self, order_id: str) -> Order:
        self.before_call("get_order")
        return self.matching_engine().get_order(self.account_id, order_id)

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        self.before_call("get_order_by_client_id")
        return self.matching_engine().find_by_client_id(self.account_id, client_order_id)

    async def list_orders(self, symbol: str | None = None, *, open_only: bool = True) -> list[Order]:
        self.before_call("list_orders")
        return self.matching_engine().list_orders(self.account_id, symbol, open_only=open_only)

    async def list_fills(
        self, symbol: str | None = None, *, order_id: str | None = None, since: datetime | None = None
    ) -> list[Fill]:
        self.before_call("list_fills")
        return self.matching_engine().list_fills(self.account_id, symbol, order_id, since)

    async def list_balances(self) -> list[Balance]:
        self.before_call("list_balances")
        return self.matching_engine().balances(self.account_id)

    async def list_positions(self) -> list[Position]:
        self.before_call("list_positions")
        return self.matching_engine().positions(self.account_id)
