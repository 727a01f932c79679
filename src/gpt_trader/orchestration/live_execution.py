"""LiveExecutionEngine: intents -> orders -> fills, exactly once.

Every order is written to the OrdersStore (PENDING_SUBMIT) before it is sent, carries a deterministic
`client_order_id`, and is tracked until a terminal state. A result we cannot be sure of (timeout after
send, 5xx) leaves the order PENDING_SUBMIT; it is resolved by `client_order_id`, and only ever resent
with that same id, which the venue de-duplicates.

Intent ids (hence client_order_ids) are stable across restarts: a decision taken on a completed bar is
`"<symbol>:<bar start YYYYmmddTHHMMSS>:<action>"` and the id is uuid5(bot_id + intent id), with no
session in it, so a restarted bot re-deciding the same bar produces the same order (recorded once, sent
once). Intents that are not tied to a bar (e.g. a guard flatten keyed by cycle number) are scoped to
their session by `stable_intent_id`, because a cycle counter restarts at zero.

For the chaos test, `GPT_TRADER_CHAOS_KILL_POINT=<point>[:<n>]` SIGKILLs the process the n-th time
(default first) execution reaches `after_intent` (recorded, not sent) or `after_send` (sent, the
acknowledgement not yet stored), or, for protective orders (orchestration/protection.py),
`protect_before_send` (the entry filled, no stop sent yet) or `protect_after_send` (the stop placed at
the venue, not yet recorded as acknowledged). Unset in production; reading it costs one dict lookup at start-up.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import uuid
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import msgspec
import structlog

from gpt_trader.features.brokerages.core.interfaces import (
    ZERO,
    AmbiguousOrderStateError,
    Broker,
    BrokerageError,
    Fill,
    IllegalTransitionError,
    InsufficientFundsError,
    InvalidOrderError,
    Order,
    OrderRequest,
    OrderStatus,
    PermissionDeniedError,
    TransientError,
)
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.positions import PositionBook
from gpt_trader.persistence.interfaces import EventStoreProtocol, OrdersStoreProtocol

log = structlog.get_logger("execution")

_COID_NAMESPACE = uuid.UUID("6f1d0a2e-4f7b-4b8e-9a57-3c1f2f6c9d10")

SubmitStatus = Literal["sent", "dry_run", "rejected", "duplicate", "pending"]


CHAOS_KILL_ENV = "GPT_TRADER_CHAOS_KILL_POINT"
CHAOS_POINTS = ("after_intent", "after_send", "protect_before_send", "protect_after_send")
_BAR_INTENT = re.compile(r"[^/:]+:\d{8}T\d{6}:[A-Z_]+")


def _now(fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    fn(*args, **kwargs)


def client_order_id_for(bot_id: str, intent_id: str) -> str:
    """Deterministic id: the same (bot, intent) always gives the same id, so a resend is the same order."""
    return str(uuid.uuid5(_COID_NAMESPACE, f"{bot_id}/{intent_id}"))


def stable_intent_id(intent_id: str, session_id: str) -> str:
    """Bar-keyed intents stay as they are (stable across restarts); anything else is session-scoped."""
    return intent_id if _BAR_INTENT.fullmatch(intent_id) else f"{session_id}/{intent_id}"


def _parse_kill_point(spec: str | None) -> tuple[str | None, int]:
    if not spec:
        return None, 0
    point, _, count = spec.partition(":")
    if point not in CHAOS_POINTS:
        raise ValueError(f"{CHAOS_KILL_ENV}={spec!r}: point must be one of {', '.join(CHAOS_POINTS)}")
    try:
        n = int(count) if count else 1
    except ValueError:
        raise ValueError(f"{CHAOS_KILL_ENV}={spec!r}: the count after ':' must be an integer") from None
    if n < 1:
        raise ValueError(f"{CHAOS_KILL_ENV}={spec!r}: the count must be >= 1")
    return point, n


class SubmitResult(msgspec.Struct, kw_only=True):
    status: SubmitStatus
    client_order_id: str
    order: Order | None = None
    reason: str | None = None


TradeClosedHook = Callable[[str, Decimal], None]
ApiHook = Callable[[bool, str], None]
FillHook = Callable[[Fill, Decimal], object]  # (fill, its realized PnL in the ledger)
Atomic = Callable[[], AbstractContextManager[object]]


class LiveExecutionEngine:
    def __init__(
        self,
        broker: Broker,
        orders: OrdersStoreProtocol,
        events: EventStoreProtocol,
        metrics: MetricsRegistry,
        positions: PositionBook,
        *,
        bot_id: str,
        dry_run: bool = False,
        on_api_call: ApiHook | None = None,
        on_trade_closed: TradeClosedHook | None = None,
        on_fill: FillHook | None = None,
        atomic: Atomic | None = None,
    ) -> None:
        self.broker = broker
        self.orders = orders
        self.events = events
        self.metrics = metrics
        self.positions = positions
        self.bot_id = bot_id
        self.dry_run = dry_run
        self._on_api = on_api_call or (lambda ok, endpoint: None)
        self._on_trade_closed = on_trade_closed or (lambda symbol, pnl: None)
        self._on_fill = on_fill
        self._atomic = atomic
        self.tracked: dict[str, Order] = {}  # client_order_id -> latest known order (non-terminal)
        self._pending: dict[str, OrderRequest] = {}  # client_order_id -> request awaiting resolution
        self.fills: list[Fill] = []
        self._kill_point, self._kill_countdown = _parse_kill_point(os.environ.get(CHAOS_KILL_ENV))
        self._deferred_trades: list[tuple[str, Decimal]] | None = None
        self._roles: dict[str, str] = {}  # client_order_id -> role, for orders that are not entries/exits

    def chaos_point(self, point: str) -> None:
        """A named kill point outside the engine (protection: entry filled, no stop sent yet)."""
        self._chaos(point)

    def _chaos(self, point: str) -> None:
        """Die here without cleanup when the chaos test asked for it (see module docstring)."""
        if self._kill_point != point:
            return
        self._kill_countdown -= 1
        if self._kill_countdown <= 0:
            log.warning("chaos kill point reached; SIGKILL", point=point)
            os.kill(os.getpid(), signal.SIGKILL)

    # ------------------------------------------------------------------ restore (reconciliation)
    def track(self, order: Order) -> None:
        """Keep tracking a working order found at start-up reconciliation."""
        if order.is_terminal:
            self.tracked.pop(order.client_order_id, None)
        else:
            self.tracked[order.client_order_id] = order

    def add_pending(self, request: OrderRequest) -> None:
        """A recorded intent the venue has not seen yet: the next poll resends it with the same id."""
        if not request.client_order_id:
            raise ValueError("a pending request needs its client_order_id")
        self._pending[request.client_order_id] = request

    async def adopt(self, order: Order, *, note: str) -> None:
        """Take the venue's view of a stored order as current (store, fills, tracking)."""
        await self._adopt(order, note=note)

    # ------------------------------------------------------------------ submit
    async def submit(self, request: OrderRequest, *, intent_id: str, role: str = "order") -> SubmitResult:
        """Record the intent durably, then send it (`prepare` then `send`). `role` "protect" marks a
        protective order (its own chaos kill point)."""
        prepared = self.prepare(request, intent_id=intent_id, role=role)
        if isinstance(prepared, SubmitResult):
            return prepared
        return await self.send(prepared)

    def prepare(
        self,
        request: OrderRequest,
        *,
        intent_id: str,
        role: str = "order",
        later: Callable[..., None] | None = None,
    ) -> OrderRequest | SubmitResult:
        """Everything before the send: the intent written (PENDING_SUBMIT, fsynced) and journaled. Returns the
        request to hand to `send`, or the outcome when nothing is to be sent (dry run, intent already recorded).
        A crash between the two leaves a pending intent, resolved by its client_order_id like any other.
        `later(fn, *args, **kwargs)`: how the `order_intent` journal row is written (the bot writes a bar
        boundary's journal rows once its orders are out; the intent row itself is always written here)."""
        coid = request.client_order_id or client_order_id_for(self.bot_id, intent_id)
        if request.client_order_id != coid:
            request = msgspec.structs.replace(request, client_order_id=coid)
        now = self.broker.now()
        if self.dry_run:
            self.metrics.inc("orders.dry_run")
            self.events.append("would_send", msgspec.to_builtins(request), ts=now, symbol=request.symbol)
            log.info(
                "would send (dry run)",
                symbol=request.symbol,
                side=request.side.value,
                size=str(request.size),
                type=request.order_type.value,
                client_order_id=coid,
            )
            return SubmitResult(status="dry_run", client_order_id=coid)

        if not self.orders.record_intent(request, intent_id=intent_id, session_id=self.events.session_id, at=now):
            stored = self.orders.get(coid)
            self.metrics.inc("orders.duplicate_intents")
            log.warning(
                "intent already recorded; not sending again",
                client_order_id=coid,
                status=stored.status.value if stored else None,
            )
            if stored is not None and stored.status is OrderStatus.PENDING_SUBMIT:
                self._pending[coid] = request
            return SubmitResult(status="duplicate", client_order_id=coid)
        (later or _now)(
            self.events.append,
            "order_intent",
            {"intent_id": intent_id, **msgspec.to_builtins(request)},
            ts=now,
            symbol=request.symbol,
        )
        if role != "order":
            self._roles[coid] = role
        return request

    async def send(self, request: OrderRequest) -> SubmitResult:
        """Send a request `prepare` recorded; the outcome is stored (acknowledged, rejected, or ambiguous and
        kept pending)."""
        return await self.settle(request, await self.transmit(request))

    async def transmit(self, request: OrderRequest) -> Order | BrokerageError:
        """Only the venue call of a send: it changes no state and writes nothing, so transmits of different
        intents may run concurrently with each other and with the decisions of a later bar; `settle` applies
        each outcome afterwards, from the one task that owns the bot's state."""
        # the "intent recorded, not sent" kill point sits here, not in `prepare`: a bar boundary's intents
        # are committed together after `prepare`, and only a committed intent can be found at a restart
        self._chaos("after_intent")
        try:
            return await self.broker.place_order(request)
        except BrokerageError as exc:
            return exc

    async def settle(self, request: OrderRequest, outcome: Order | BrokerageError) -> SubmitResult:
        """Apply what `transmit` got: the acknowledged order adopted, a refusal recorded with its reason, an
        unknown outcome kept pending (resolved by client_order_id)."""
        coid = request.client_order_id
        try:
            if isinstance(outcome, BaseException):
                raise outcome
            order = outcome
            self._on_api(True, "place_order")
        except (InsufficientFundsError, InvalidOrderError, PermissionDeniedError) as exc:
            self._on_api(True, "place_order")  # the venue answered; the order itself was refused
            self.orders.mark_status(coid, OrderStatus.REJECTED, at=self.broker.now(), reason=exc.reason)
            self.metrics.inc("orders.rejected")
            self.metrics.inc(f"orders.rejected.{exc.reason}")
            self.events.append(
                "order_rejected",
                {"client_order_id": coid, "reason": exc.reason, "message": str(exc)},
                ts=self.broker.now(),
                symbol=request.symbol,
            )
            log.warning("order rejected by venue", client_order_id=coid, reason=exc.reason, message=str(exc))
            self._pending.pop(coid, None)
            return SubmitResult(status="rejected", client_order_id=coid, reason=exc.reason)
        except (AmbiguousOrderStateError, TransientError, BrokerageError) as exc:
            # We cannot know whether the venue has it: keep PENDING_SUBMIT and resolve by client_order_id.
            self._on_api(False, "place_order")
            self._pending[coid] = request
            self.metrics.inc("orders.ambiguous")
            self.events.append(
                "order_ambiguous",
                {"client_order_id": coid, "error": type(exc).__name__, "message": str(exc)},
                ts=self.broker.now(),
                symbol=request.symbol,
            )
            log.warning(
                "order outcome unknown; will resolve by client_order_id",
                client_order_id=coid,
                error=type(exc).__name__,
            )
            return SubmitResult(status="pending", client_order_id=coid, reason=type(exc).__name__)
        self._chaos("after_send")
        if self._roles.pop(coid, None) == "protect":
            self._chaos("protect_after_send")
        self._pending.pop(coid, None)
        self.metrics.inc("orders.sent")
        await self._adopt(order, note="acknowledged")
        log.info(
            "order sent",
            symbol=order.symbol,
            side=order.side.value,
            size=str(order.size),
            status=order.status.value,
            order_id=order.order_id,
            client_order_id=coid,
        )
        return SubmitResult(status="sent", client_order_id=coid, order=order)

    # ------------------------------------------------------------------ tracking
    async def _adopt(self, order: Order, *, note: str) -> None:
        """Take the venue's order as the current state: store it, pull its fills, track if working."""
        # Fills first: a crash between the two leaves a non-terminal row that the next start re-checks.
        if order.filled_size > 0:
            try:
                await self._pull_fills(order)
            except BrokerageError as exc:
                # Keep the stored status as it was and keep tracking: the next poll pulls the fills.
                self._on_api(False, "list_fills")
                self.metrics.inc("fills.pull_failed")
                log.warning(
                    "could not pull fills; will retry on the next poll",
                    client_order_id=order.client_order_id,
                    error=type(exc).__name__,
                )
                self.tracked[order.client_order_id] = order
                return
        self.orders.update_from_order(order, at=self.broker.now(), note=note)
        if order.is_terminal:
            self.tracked.pop(order.client_order_id, None)
            self.events.append(
                "order_final",
                {
                    "client_order_id": order.client_order_id,
                    "order_id": order.order_id,
                    "status": order.status.value,
                    "filled_size": str(order.filled_size),
                    "avg_fill_price": str(order.avg_fill_price),
                },
                ts=self.broker.now(),
                symbol=order.symbol,
            )
        else:
            self.tracked[order.client_order_id] = order

    async def _pull_fills(self, order: Order) -> None:
        fills = await self.broker.list_fills(order.symbol, order_id=order.order_id)
        self._on_api(True, "list_fills")
        fills = [
            f if f.client_order_id else msgspec.structs.replace(f, client_order_id=order.client_order_id)
            for f in fills
            if f.order_id == order.order_id
        ]
        with self.fill_transaction():
            for fill in self.orders.add_fills(fills):
                self.record_fill(fill)

    def fill_transaction(self) -> AbstractContextManager[object]:
        """Wrap storing fills and `record_fill` of them: with a shared store connection (`atomic`), the fill
        rows and the state they change (cash-flow cursor, guard state, journal) commit together, so a crash
        cannot leave a stored fill the cash-flow detector never accounted."""
        return self._atomic() if self._atomic is not None else contextlib.nullcontext()

    def record_fill(self, fill: Fill) -> None:
        """A fill already stored: apply it to positions, tell the cash-flow hook what it realized, journal it,
        report a closed round trip."""
        self.fills.append(fill)
        self.metrics.inc("fills.count")
        self.metrics.inc("fills.fees_usd", float(fill.fee))
        led = self.positions.ledgers.get(fill.symbol)
        realized_before = led.realized_pnl if led is not None else ZERO
        trip = self.positions.apply_fill(fill)
        if self._on_fill is not None:
            # The cash-flow detector persists it first: the fewer writes between the store's commit of the
            # fill and this one, the smaller the window in which a crash leaves the fill unaccounted.
            self._on_fill(fill, self.positions.ledger(fill.symbol).realized_pnl - realized_before)
        self.events.append("fill", msgspec.to_builtins(fill), ts=fill.ts, symbol=fill.symbol)
        log.info(
            "fill",
            symbol=fill.symbol,
            side=fill.side.value,
            size=str(fill.size),
            price=str(fill.price),
            fee=str(fill.fee),
            liquidity=fill.liquidity.value,
        )
        if trip is None:
            return
        if self._deferred_trades is not None:
            self._deferred_trades.append((fill.symbol, trip))
        else:
            self._on_trade_closed(fill.symbol, trip)

    def hold_trade_results(self) -> None:
        """Queue closed-trade results instead of reporting them (start-up reconciliation runs before the
        risk manager has loaded its persisted state; reporting then would write over it)."""
        if self._deferred_trades is None:
            self._deferred_trades = []

    def release_trade_results(self) -> int:
        """Report the queued results (call once the risk manager has started); returns how many."""
        queued, self._deferred_trades = self._deferred_trades or [], None
        for symbol, pnl in queued:
            self._on_trade_closed(symbol, pnl)
        return len(queued)

    def _apply_status(self, local: Order, remote: Order) -> bool:
        """Move the local order to the venue's status through the validated lifecycle."""
        if local.status == remote.status and remote.status is not OrderStatus.PARTIALLY_FILLED:
            return True
        try:
            local.transition(remote.status, at=self.broker.now())
            self.metrics.inc("orders.status", labels={"status": remote.status.value})
            return True
        except IllegalTransitionError as exc:
            self.metrics.inc("orders.illegal_transitions")
            self.events.append(
                "illegal_transition",
                {
                    "client_order_id": local.client_order_id,
                    "from": local.status.value,
                    "to": remote.status.value,
                },
                ts=self.broker.now(),
                symbol=local.symbol,
            )
            log.error("venue reported an illegal status move; not applied", error=str(exc))
            return False

    async def resolve_pending(self, *, resend: bool = True) -> None:
        """Resolve every pending submit now: adopt what the venue has, resend (same id) what it has not
        (unless `resend` is False: then it stays pending)."""
        for coid, request in list(self._pending.items()):
            await self._resolve_pending(coid, request, resend=resend)

    async def poll(self, *, resend: bool = True) -> None:
        """Refresh every working order and resolve every pending submit. `resend=False` only looks (a
        mid-cycle refresh before the guards have spoken must not send anything)."""
        await self.resolve_pending(resend=resend)
        for coid, local in list(self.tracked.items()):
            try:
                remote = self._keyed(await self.broker.get_order(local.order_id), local)
                self._on_api(True, "get_order")
            except BrokerageError as exc:
                self._on_api(False, "get_order")
                log.warning("could not refresh order", client_order_id=coid, error=type(exc).__name__)
                continue
            if not self._apply_status(local, remote):
                continue
            if remote.filled_size != local.filled_size or remote.is_terminal:
                await self._adopt(remote, note="poll")
            else:
                self.tracked[coid] = remote

    async def apply_pushed(self, order: Order) -> bool:
        """An order state the venue pushed (user stream) applied as it arrives: status now, fills read once
        over REST when the filled size moved (venue trade ids, so the reconciliation sweep never counts a
        fill twice). Returns False when the order is not one the bot knows yet (its ack is in flight)."""
        coid = order.client_order_id
        local = self.tracked.get(coid)
        if local is None:
            request = self._pending.pop(coid, None)
            if request is not None:  # an ambiguous submit the venue has: resolved without a lookup
                self.metrics.inc("orders.pending_resolved")
                self.events.append(
                    "pending_resolved",
                    {"client_order_id": coid, "found": True, "status": order.status.value, "via": "user_stream"},
                    ts=self.broker.now(),
                    symbol=request.symbol,
                )
                await self._adopt(order, note="resolved by user stream")
                return True
            return bool(coid) and self.orders.get(coid) is not None  # known and settled: nothing to do
        remote = self._keyed(order, local)
        if remote.filled_size < local.filled_size:
            return True  # an older event overtaken by what we hold
        if not self._apply_status(local, remote):
            return True
        self.metrics.inc("orders.stream_updates")
        if remote.filled_size != local.filled_size or remote.is_terminal:
            await self._adopt(remote, note="user stream")
        else:
            self.tracked[coid] = remote
        return True

    async def _resolve_pending(self, coid: str, request: OrderRequest, *, resend: bool = True) -> None:
        try:
            found = await self.broker.get_order_by_client_id(coid)
            self._on_api(True, "get_order_by_client_id")
        except BrokerageError as exc:
            self._on_api(False, "get_order_by_client_id")
            log.warning("pending order lookup failed; will retry", client_order_id=coid, error=type(exc).__name__)
            return
        if found is not None:
            self._pending.pop(coid, None)
            self.metrics.inc("orders.pending_resolved")
            self.events.append(
                "pending_resolved",
                {"client_order_id": coid, "found": True, "status": found.status.value},
                ts=self.broker.now(),
                symbol=request.symbol,
            )
            await self._adopt(found, note="resolved by client_order_id")
            return
        if not resend:
            return
        # The venue never saw it: resend with the SAME client_order_id (the venue de-duplicates).
        self.metrics.inc("orders.resent_same_id")
        log.info("pending order unknown at venue; resending with the same client_order_id", client_order_id=coid)
        await self.send(request)

    # ------------------------------------------------------------------ cancel / amend
    async def cancel(self, client_order_id: str) -> bool:
        local = self.tracked.get(client_order_id)
        if local is None:
            return False
        local.transition(OrderStatus.PENDING_CANCEL, at=self.broker.now())
        self.orders.mark_status(client_order_id, OrderStatus.PENDING_CANCEL, at=self.broker.now())
        try:
            results = await self.broker.cancel_orders([local.order_id])
            self._on_api(True, "cancel_orders")
        except BrokerageError as exc:
            self._on_api(False, "cancel_orders")
            log.warning("cancel failed; order stays pending cancel until the next poll", error=type(exc).__name__)
            return False
        remote = self._keyed(await self.broker.get_order(local.order_id), local)
        if self._apply_status(local, remote):
            await self._adopt(remote, note="cancel")
        return bool(results.get(local.order_id))

    async def amend(
        self,
        client_order_id: str,
        *,
        size: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> Order:
        """Amend a working order in place (edit_order: same order id). A refusal re-reads the order and raises."""
        local = self.tracked.get(client_order_id)
        if local is None:
            raise KeyError(f"no working order {client_order_id}")
        local.transition(OrderStatus.PENDING_AMEND, at=self.broker.now())
        self.orders.mark_status(client_order_id, OrderStatus.PENDING_AMEND, at=self.broker.now())
        try:
            remote = self._keyed(
                await self.broker.edit_order(local.order_id, size=size, price=price, stop_price=stop_price), local
            )
            self._on_api(True, "edit_order")
        except BrokerageError:
            self._on_api(False, "edit_order")
            remote = self._keyed(await self.broker.get_order(local.order_id), local)
            if self._apply_status(local, remote):
                await self._adopt(remote, note="amend refused")
            raise
        if self._apply_status(local, remote):
            await self._adopt(remote, note="amended")
        return remote

    async def cancel_all(self, *, keep: Collection[str] = ()) -> int:
        """Cancel every working order except those in `keep` (the protection of open positions)."""
        n = 0
        for coid in list(self.tracked):
            if coid in keep:
                continue
            if await self.cancel(coid):
                n += 1
        return n

    @staticmethod
    def _keyed(remote: Order, local: Order) -> Order:
        """The venue's view under the store's key (an adopted order without a client id is keyed by
        its exchange id in the store)."""
        if remote.client_order_id == local.client_order_id:
            return remote
        return msgspec.structs.replace(remote, client_order_id=local.client_order_id)

    def summary(self) -> dict[str, Any]:
        return {"tracked": len(self.tracked), "pending": len(self._pending), "fills": len(self.fills)}

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def has_pending(self, symbol: str) -> bool:
        """Whether a submit on `symbol` has an unknown outcome (resolved by client_order_id later)."""
        return any(r.symbol == symbol for r in self._pending.values())

    def open_orders_for(self, symbol: str) -> list[Order]:
        return [o for o in self.tracked.values() if o.symbol == symbol]

    @staticmethod
    def now_iso(ts: datetime) -> str:
        return ts.isoformat()
