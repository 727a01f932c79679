"""ProtectionManager: every open position has exactly one working protective order at the venue.

Why: a position must be protected between bars and while the bot is down. On an entry fill the bot
places the exits the decision (or the profile's `exits:`) asked for:
- stop and take-profit: one `BRACKET` (Coinbase `trigger_bracket_gtc`, one-cancels-other at the venue);
  a product without native brackets gets the adapter's client-side triggers (the broker falls back and
  counts it);
- stop (or trailing) only: a native `STOP_LIMIT` (`stop_slippage` through the stop).

Protective orders are intents like entries: recorded before they are sent, with a deterministic
client_order_id derived from the entry's intent id, the role, the size covered, the stop price and the
attempt (`<entry intent>#protect:<size>:<stop>/<n>`; n moves on only when an earlier attempt ended
without filling, e.g. cancelled at the venue). The plan (entry intent, exits, trailing anchor) is persisted in
the StateStore before the entry is sent, so a restart after a SIGKILL at any point recomputes the same
ids: `ensure()` places a missing protection, cancels duplicates and one whose size no longer matches the
position, and never sends the same protection twice (the OrdersStore refuses a recorded intent).

Trailing stops move with the mark. The venue amends only GTC limit orders (COINBASE.md, Edit), so a
resting stop cannot be amended there: the trailing step is a cancel, then a new protective intent at the
new stop (the same record-before-send discipline; a crash in between is repaired by `ensure()`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import msgspec
import structlog

from gpt_trader.features.brokerages.core.interfaces import (
    BrokerageError,
    InvalidOrderError,
    Order,
    OrderRequest,
    OrderSide,
    OrderType,
    Product,
    StopDirection,
    TimeInForce,
)
from gpt_trader.features.brokerages.core.quantization import quantize_price
from gpt_trader.features.live_trade.strategies.base import Exits
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.live_execution import LiveExecutionEngine, client_order_id_for
from gpt_trader.persistence.interfaces import EventStoreProtocol, StateStoreProtocol

log = structlog.get_logger("protection")

ROLE_TAG = "#protect:"
STOPOUT_TAG = "#stopout"
_STATE_PREFIX = "protection:"
_MAX_ATTEMPTS = 50  # protective sends per (entry, size, stop) before giving up (each refusal is counted)

#: (symbol, period) -> the average true range over the last `period` completed bars, or None if too few
AtrSource = Callable[[str, int], Decimal | None]


class ProtectionPlan(msgspec.Struct, kw_only=True):
    """What protects one symbol's position: the entry it belongs to, its exits, the trailing anchor."""

    symbol: str
    entry_intent: str
    exits: Exits
    atr: Decimal | None = None  # the ATR at entry (unit "atr")
    anchor: Decimal | None = None  # best mark since entry (trailing)


def is_protective_intent(intent_id: str) -> bool:
    return ROLE_TAG in intent_id


def _d(value: float) -> Decimal:
    return Decimal(repr(value))


class ProtectionManager:
    """Places, checks and trails the venue-side protection of every open position (module docstring)."""

    def __init__(
        self,
        execution: LiveExecutionEngine,
        state: StateStoreProtocol,
        events: EventStoreProtocol,
        metrics: MetricsRegistry,
        products: Mapping[str, Product],
        *,
        defaults: Exits | None,
        atr: AtrSource,
    ) -> None:
        self.execution = execution
        self.state = state
        self.events = events
        self.metrics = metrics
        self.products = products
        self.defaults = defaults
        self._atr = atr
        self._naked_warned: set[str] = set()
        self._no_amend: set[str] = set()  # symbols whose resting stops the venue refused to amend

    # ------------------------------------------------------------------ plan
    def plan_entry(self, symbol: str, entry_intent: str, exits: Exits | None) -> ProtectionPlan | None:
        """Persist the exits of an entry before it is sent (a crash after its fill still knows them)."""
        chosen = exits or self.defaults
        if chosen is None:
            return None
        atr = self._atr(symbol, chosen.atr_period) if chosen.unit == "atr" else None
        if chosen.unit == "atr" and atr is None:
            log.warning("ATR exits but too few bars for the ATR; using none", symbol=symbol)
            self.metrics.inc("protection.atr_unavailable")
            return None
        plan = ProtectionPlan(symbol=symbol, entry_intent=entry_intent, exits=chosen, atr=atr)
        self._save(plan)
        return plan

    def plan_for(self, symbol: str) -> ProtectionPlan | None:
        raw = self.state.get(_STATE_PREFIX + symbol)
        return None if raw is None else msgspec.convert(raw, ProtectionPlan, strict=False)

    def _save(self, plan: ProtectionPlan) -> None:
        self.state.put(_STATE_PREFIX + plan.symbol, msgspec.to_builtins(plan))

    # ------------------------------------------------------------------ which orders protect
    def _intent_of(self, client_order_id: str) -> str:
        stored = self.execution.orders.get(client_order_id)
        return stored.intent_id if stored is not None else ""

    def working(self, symbol: str) -> list[Order]:
        """The working protective orders of `symbol` (the engine's tracked orders whose intent has the role)."""
        return [
            o
            for o in self.execution.open_orders_for(symbol)
            if is_protective_intent(self._intent_of(o.client_order_id))
        ]

    def protective_ids(self) -> set[str]:
        """client_order_ids of every working protective order of a symbol that holds a position (what a
        graceful stop or a halt must leave at the venue)."""
        keep: set[str] = set()
        for coid, order in self.execution.tracked.items():
            if self.execution.positions.size(order.symbol) != 0 and is_protective_intent(self._intent_of(coid)):
                keep.add(coid)
        return keep

    # ------------------------------------------------------------------ prices
    def _distance(self, plan: ProtectionPlan, value: float | None, ref: Decimal) -> Decimal | None:
        if value is None:
            return None
        if plan.exits.unit == "atr":
            assert plan.atr is not None
            return _d(value) * plan.atr
        return _d(value) * ref

    def stop_price(self, plan: ProtectionPlan, entry: Decimal, long: bool, mark: Decimal | None) -> Decimal:
        """The tighter of the fixed stop and the trailing stop (the trailing anchor follows the mark)."""
        sign = 1 if long else -1
        candidates: list[Decimal] = []
        fixed = self._distance(plan, plan.exits.stop_loss, entry)
        if fixed is not None:
            candidates.append(entry - sign * fixed)
        if plan.exits.trailing is not None:
            anchor = plan.anchor if plan.anchor is not None else entry
            if mark is not None and (mark - anchor) * sign > 0:
                anchor = mark
            plan.anchor = anchor
            trail = self._distance(plan, plan.exits.trailing, anchor)
            assert trail is not None
            candidates.append(anchor - sign * trail)
        return max(candidates) if long else min(candidates)

    def _request(self, plan: ProtectionPlan, size: Decimal, entry: Decimal, stop: Decimal) -> OrderRequest:
        long = size > 0
        side = OrderSide.SELL if long else OrderSide.BUY
        product = self.products[plan.symbol]
        stop = quantize_price(stop, product, side)
        target = self._distance(plan, plan.exits.take_profit, entry)
        common: dict[str, Any] = {
            "symbol": plan.symbol,
            "side": side,
            "size": abs(size),
            "time_in_force": TimeInForce.GTC,
            "reduce_only": product.is_perpetual,
        }
        if target is not None:
            limit = quantize_price(entry + target if long else entry - target, product, side)
            return OrderRequest(order_type=OrderType.BRACKET, limit_price=limit, stop_trigger_price=stop, **common)
        slip = _d(plan.exits.stop_slippage) * stop
        return OrderRequest(
            order_type=OrderType.STOP_LIMIT,
            stop_price=stop,
            limit_price=quantize_price(stop - slip if long else stop + slip, product, side),
            stop_direction=StopDirection.STOP_DOWN if long else StopDirection.STOP_UP,
            **common,
        )

    # ------------------------------------------------------------------ the invariant
    async def ensure(self, marks: Mapping[str, Decimal]) -> None:
        """Exactly one working protection per open position (placed, resized, trailed, de-duplicated);
        protection of a flat symbol is cancelled."""
        for symbol in sorted(self.products):
            await self._ensure_symbol(symbol, marks.get(symbol))

    async def _ensure_symbol(self, symbol: str, mark: Decimal | None) -> None:
        execution = self.execution
        size = execution.positions.size(symbol)
        working = self.working(symbol)
        if size == 0:
            for order in working:
                self.metrics.inc("protection.cancelled_flat")
                await execution.cancel(order.client_order_id)
            return
        if execution.has_pending(symbol):
            return  # an order's outcome is unknown: resolve it first (it may be this protection)
        plan = self.plan_for(symbol)
        if plan is None:
            if self.defaults is None:
                if symbol not in self._naked_warned:
                    self._naked_warned.add(symbol)
                    self.metrics.inc("protection.no_exits")
                    log.warning("open position without exits configured", symbol=symbol, size=str(size))
                return
            plan = self.plan_entry(symbol, f"{symbol}:adopted", None)
            if plan is None:
                return
        entry = execution.positions.ledger(symbol).entry_price
        stop = self.stop_price(plan, entry, size > 0, mark)
        self._save(plan)
        request = self._request(plan, size, entry, stop)
        intent = self._intent(
            f"{plan.entry_intent}{ROLE_TAG}{abs(size)}:{request.stop_trigger_price or request.stop_price}"
        )
        if intent is None:
            return
        coid = client_order_id_for(execution.bot_id, intent)
        keep = next((o for o in working if o.client_order_id == coid), None)
        stale = [o for o in working if o is not keep]
        if keep is None and working and not self._moved(working[0], request):
            keep, stale = working[0], working[1:]  # the trail has not moved a full tick: keep what rests
        if keep is None and len(working) == 1 and await self._amend(working[0], request):
            return
        for order in stale:
            self.metrics.inc("protection.replaced" if len(working) == 1 else "protection.duplicate_cancelled")
            if not await execution.cancel(order.client_order_id):
                return  # cannot know it is gone: never stack a second protection on top of it
        if keep is not None:
            return
        if mark is not None and ((size > 0 and mark <= stop) or (size < 0 and mark >= stop)):
            await self._stop_out(plan, size, mark, stop)
            return
        execution.chaos_point("protect_before_send")
        result = await execution.submit(request, intent_id=intent, role="protect")
        self.metrics.inc("protection.placed")
        self.events.append(
            "protection",
            {
                "client_order_id": result.client_order_id,
                "status": result.status,
                "type": request.order_type.value,
                "size": str(abs(size)),
                "stop": str(request.stop_trigger_price or request.stop_price),
                "target": str(request.limit_price) if request.order_type is OrderType.BRACKET else None,
                "entry_intent": plan.entry_intent,
            },
            ts=execution.broker.now(),
            symbol=symbol,
        )
        log.info(
            "protection placed",
            symbol=symbol,
            type=request.order_type.value,
            stop=str(request.stop_trigger_price or request.stop_price),
            status=result.status,
        )

    def _intent(self, base: str) -> str | None:
        """`base/<n>`: the first attempt not yet ended. A protection the venue cancelled or refused is
        replaced under the next n, so the id stays deterministic (the store remembers the attempts)."""
        for n in range(_MAX_ATTEMPTS):
            intent = f"{base}/{n}"
            stored = self.execution.orders.get(client_order_id_for(self.execution.bot_id, intent))
            if stored is None or not stored.status.is_terminal:
                return intent
        self.metrics.inc("protection.attempts_exhausted")
        log.error("protection refused too often; position left to the guards", intent=base, attempts=_MAX_ATTEMPTS)
        return None

    async def _amend(self, order: Order, request: OrderRequest) -> bool:
        """Move a resting stop in place by edit_order (same order id) when only its stop changed and the
        venue can amend it; False when it cannot (then the caller cancels and replaces)."""
        if order.symbol in self._no_amend or order.order_type is not request.order_type:
            return False
        if order.size - order.filled_size != request.size:
            return False
        bracket = request.order_type is OrderType.BRACKET
        stop = request.stop_trigger_price if bracket else request.stop_price
        try:
            await self.execution.amend(
                order.client_order_id, stop_price=stop, price=None if bracket else request.limit_price
            )
        except InvalidOrderError as exc:
            if exc.reason == "UNSUPPORTED_ORDER_CONFIGURATION":
                self._no_amend.add(order.symbol)  # the venue cannot amend stops: do not ask again
            self.metrics.inc("protection.amend_refused")
            log.info("stop not amendable; cancel and replace", symbol=order.symbol, reason=exc.reason)
            return False
        except BrokerageError as exc:
            self.metrics.inc("protection.amend_failed")
            log.warning("stop amend failed; cancel and replace", symbol=order.symbol, error=type(exc).__name__)
            return False
        self.metrics.inc("protection.amended")
        self.events.append(
            "protection_amended",
            {"client_order_id": order.client_order_id, "order_id": order.order_id, "stop": str(stop)},
            ts=self.execution.broker.now(),
            symbol=order.symbol,
        )
        return True

    @staticmethod
    def _moved(order: Order, request: OrderRequest) -> bool:
        """Whether the resting order differs from the wanted one (size, type or stop)."""
        if order.size - order.filled_size != request.size or order.order_type is not request.order_type:
            return True
        resting = order.stop_trigger_price if order.order_type is OrderType.BRACKET else order.stop_price
        wanted = request.stop_trigger_price if request.order_type is OrderType.BRACKET else request.stop_price
        return resting != wanted

    async def _stop_out(self, plan: ProtectionPlan, size: Decimal, mark: Decimal, stop: Decimal) -> None:
        """The mark is already through the stop: a resting stop would be refused or fill at once, so close
        the position at market (reduce-only) instead."""
        self.metrics.inc("protection.stop_out_market")
        log.warning("mark already through the stop; closing at market", symbol=plan.symbol, mark=str(mark))
        request = OrderRequest(
            symbol=plan.symbol,
            side=OrderSide.SELL if size > 0 else OrderSide.BUY,
            order_type=OrderType.MARKET,
            size=abs(size),
            time_in_force=TimeInForce.IOC,
            reduce_only=True,
        )
        await self.execution.submit(request, intent_id=f"{plan.entry_intent}{STOPOUT_TAG}:{abs(size)}:{stop}")

    async def remove(self, symbol: str) -> bool:
        """An explicit flatten: cancel the symbol's protection first (on spot it holds the base the market
        close sells). False when a cancel could not be confirmed."""
        ok = True
        for order in self.working(symbol):
            ok = await self.execution.cancel(order.client_order_id) and ok
        return ok

    def summary(self) -> dict[str, int]:
        """Counts for the banner and summary: placed, replaced (trail / resize), stop-outs at market."""
        names = ("placed", "amended", "replaced", "duplicate_cancelled", "stop_out_market", "cancelled_flat")
        return {name: int(self.metrics.counter(f"protection.{name}")) for name in names}


__all__ = ["ProtectionManager", "ProtectionPlan", "is_protective_intent"]
