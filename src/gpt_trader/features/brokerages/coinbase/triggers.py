"""Client-side STOP_LIMIT and BRACKET for spot products where the venue has no native version.

Semantics match the shared MatchingEngine, so strategies see one behaviour everywhere (DESIGN §1):
- STOP_LIMIT: armed until the last trade crosses `stop_price` in `stop_direction`, then a GTC limit
  at `limit_price` is sent.
- BRACKET (an exit): a GTC limit rests at `limit_price` (take profit); when the last trade crosses
  `stop_trigger_price`, the take-profit is cancelled and a protective limit `slippage` through the
  trigger is sent for what remains.
The synthetic order (id `cs-<client_order_id>`) mirrors its venue children. Child client ids are
derived (`<coid>-sl`, `<coid>-tp`, `<coid>-st`), so a retried send never duplicates at the venue.
The caller knows only the synthetic order, so the children's fills (`as_parent_fills`, used by the
broker's `list_fills`) and user-channel events (`pushed`) are reported under its ids: a child's fill
under the child's ids would match nothing the bot tracks, go unrecorded, and the cash it moved would
read as an external deposit or withdrawal.

Durability (optional `TriggerStore`, see `trigger_store`): the record is written before every step
that sends (arm, fire, stop leg, cancel). `restore()` reloads the records after a restart and
reconciles each with the children already at the venue (looked up by their derived client ids),
sending only what the recorded phase promises and the venue lacks. A finished order's record keeps
its final state for `terminal_retention` (so the bot can still read how it ended after a restart)
and is pruned by a later `restore()`. Without a store, armed state lives in memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from gpt_trader.features.brokerages.coinbase.parsing import to_order
from gpt_trader.features.brokerages.coinbase.trigger_store import TriggerStore
from gpt_trader.features.brokerages.core.interfaces import (
    ZERO,
    BrokerageError,
    Fill,
    InvalidOrderError,
    NotFoundError,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Product,
    ProductType,
    StopDirection,
    TimeInForce,
    TransientError,
)
from gpt_trader.features.brokerages.core.quantization import quantize_price

if TYPE_CHECKING:
    from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker

log = logging.getLogger(__name__)
PREFIX = "cs-"
DEFAULT_SLIPPAGE = Decimal("0.05")  # same default as the MatchingEngine's bracket stop leg
RECORD_VERSION = 1
#: child legs in the order they are sent; the last one present decides a finished order's status
CHILD_TAGS = ("tp", "sl", "st")
PHASES = ("armed", "working", "stopping", "cancelling", "done")
#: how far before the parent's creation the venue is searched for its children on restore
_CHILD_SEARCH_SLACK = timedelta(hours=1)
TERMINAL_RETENTION = timedelta(days=7)


@dataclass
class Emulated:
    order: Order
    request: OrderRequest
    product: Product
    phase: str = "armed"  # armed | working | stopping | cancelling | done
    children: dict[str, str] = field(default_factory=dict)  # tag -> venue order id
    child_filled: dict[str, Decimal] = field(default_factory=dict)
    child_value: dict[str, Decimal] = field(default_factory=dict)
    child_fees: dict[str, Decimal] = field(default_factory=dict)
    child_status: dict[str, OrderStatus] = field(default_factory=dict)


def child_parent(client_order_id: str) -> str | None:
    """The client id of the client-side order a venue child belongs to (`<coid>-sl` -> `<coid>`), or None
    when the id is not a derived child id."""
    parent, sep, tag = client_order_id.rpartition("-")
    return parent if sep and parent and tag in CHILD_TAGS else None


def stop_crossed(direction: StopDirection, stop: Decimal, last: Decimal) -> bool:
    return last >= stop if direction is StopDirection.STOP_UP else last <= stop


def parent_order(req: OrderRequest, created_at: datetime | None) -> Order:
    direction = req.stop_direction or (StopDirection.STOP_UP if req.side is OrderSide.BUY else StopDirection.STOP_DOWN)
    return Order.from_request(
        req,
        order_id=PREFIX + req.client_order_id,
        status=OrderStatus.OPEN,
        at=created_at,
        stop_direction=direction if req.order_type is OrderType.STOP_LIMIT else None,
        quote_size=None,
        end_time=None,
        post_only=False,
        reduce_only=False,
        leverage=None,
    )


def to_record(em: Emulated) -> dict[str, Any]:
    """Plain JSON types only (Decimals as strings), so any key -> JSON store can hold it."""
    return {
        "v": RECORD_VERSION,
        "order_id": em.order.order_id,
        "request": msgspec.to_builtins(em.request),
        "phase": em.phase,
        "triggered": em.order.triggered,
        "created_at": em.order.created_at.isoformat() if em.order.created_at else None,
        "children": {tag: em.children[tag] for tag in CHILD_TAGS if tag in em.children},
        "final": msgspec.to_builtins(em.order) if em.phase == "done" else None,
    }


def from_record(record: Mapping[str, Any], products: Mapping[str, Product]) -> Emulated:
    """Rebuild an emulated order; ValueError names what is wrong with the record."""
    if record.get("v") != RECORD_VERSION:
        raise ValueError(f"record version {record.get('v')!r} is not supported; allowed: {RECORD_VERSION}")
    try:
        req = msgspec.convert(record["request"], OrderRequest)
    except (KeyError, msgspec.ValidationError) as exc:
        raise ValueError(f"record request is not an OrderRequest ({exc})") from None
    if req.order_type not in (OrderType.STOP_LIMIT, OrderType.BRACKET):
        raise ValueError(f"record order_type {req.order_type.value} is not emulated; allowed: STOP_LIMIT, BRACKET")
    phase = record.get("phase")
    if phase not in PHASES:
        raise ValueError(f"record phase {phase!r} is not allowed; allowed: {', '.join(PHASES)}")
    product = products.get(req.symbol)
    if product is None:
        raise ValueError(f"product {req.symbol!r} is not listed by the venue now")
    children = record.get("children") or {}
    if not isinstance(children, dict) or any(
        t not in CHILD_TAGS or not isinstance(v, str) for t, v in children.items()
    ):
        raise ValueError(f"record children {children!r} must map {', '.join(CHILD_TAGS)} to order ids")
    if phase == "done":
        try:
            order = msgspec.convert(record["final"], Order)
        except (KeyError, msgspec.ValidationError) as exc:
            raise ValueError(f"finished record has no final Order ({exc})") from None
        if not order.is_terminal:
            raise ValueError(f"finished record's final status {order.status.value} is not terminal")
    else:
        raw_created = record.get("created_at")
        created = datetime.fromisoformat(raw_created) if isinstance(raw_created, str) else None
        order = parent_order(req, created)
        order.triggered = bool(record.get("triggered", False))
    return Emulated(order=order, request=req, product=product, phase=str(phase), children=dict(children))


class ClientTriggers:
    def __init__(
        self,
        broker: CoinbaseBroker,
        *,
        poll_interval_s: float = 1.0,
        slippage: Decimal = DEFAULT_SLIPPAGE,
        store: TriggerStore | None = None,
        terminal_retention: timedelta = TERMINAL_RETENTION,
    ):
        self.broker = broker
        self.mode = broker.settings.client_side_stops
        self.poll_interval_s = poll_interval_s
        self.slippage = slippage
        self.store = store
        self.terminal_retention = terminal_retention
        self._orders: dict[str, Emulated] = {}
        self._by_coid: dict[str, str] = {}
        self.unsupported: set[str] = set()  # products the venue refused native stops for (auto mode)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------------------------- policy
    def should_emulate(self, req: OrderRequest, product: Product) -> bool:
        if req.order_type not in (OrderType.STOP_LIMIT, OrderType.BRACKET):
            return False
        if product.product_type is not ProductType.SPOT or self.mode == "never":
            return False
        return self.mode == "always" or product.symbol in self.unsupported

    def owns(self, order_id: str) -> bool:
        return order_id in self._orders

    def by_client_id(self, client_order_id: str) -> str | None:
        return self._by_coid.get(client_order_id)

    def child_order_ids(self, order_id: str) -> list[str]:
        """The venue order ids of the children a client-side order has sent so far."""
        em = self._orders.get(order_id)
        return [] if em is None else [em.children[tag] for tag in CHILD_TAGS if tag in em.children]

    def _owner(self, order_id: str, client_order_id: str) -> Emulated | None:
        """The client-side order a venue order is a child of: by the child ids it holds, else by the derived
        client id (a child's first event can arrive before its send returns the id; it is noted then)."""
        for em in self._orders.values():
            if order_id in em.children.values():
                return em
        parent = child_parent(client_order_id)
        owner = self._orders.get(self._by_coid.get(parent, "")) if parent is not None else None
        if owner is None:
            return None
        tag = client_order_id.rpartition("-")[2]
        if owner.children.setdefault(tag, order_id) != order_id:
            return None  # that leg is another venue order: not this one's to fold in
        return owner

    def as_parent_fills(self, fills: Iterable[Fill]) -> list[Fill]:
        """Fills of venue children re-keyed to the client-side order they belong to (its order and client
        ids). The bot placed, tracks and stores only that order; a child's fill left under the child's
        ids matches nothing the bot knows, so it would go unrecorded and the cash it moved would read as
        an external transfer."""
        out: list[Fill] = []
        for fill in fills:
            em = self._owner(fill.order_id, fill.client_order_id)
            if em is not None:
                parent = em.order
                fill = msgspec.structs.replace(fill, order_id=parent.order_id, client_order_id=parent.client_order_id)
            out.append(fill)
        return out

    # -------------------------------------------------------------------------------- persistence
    def _save(self, em: Emulated) -> None:
        """Write-ahead: called before anything is sent for the new phase (and once more when done)."""
        if self.store is not None:
            record = to_record(em)
            record["venue"] = self._venue_identity()
            self.store.save(em.order.order_id, record)

    def _venue_identity(self) -> dict[str, str | None]:
        return {"url": self.broker.settings.api_base_url, "portfolio": self.broker.portfolio_uuid}

    def _other_venue(self, record: Mapping[str, Any]) -> str | None:
        """Why a record belongs to another venue/account (e.g. a previous simulator), or None."""
        theirs = record.get("venue")
        if not isinstance(theirs, dict):
            return None
        ours = self._venue_identity()
        if theirs.get("url") != ours["url"]:
            return f"armed against {theirs.get('url')!r}, connected to {ours['url']!r}"
        if theirs.get("portfolio") and ours["portfolio"] and theirs.get("portfolio") != ours["portfolio"]:
            return f"armed in portfolio {theirs.get('portfolio')}, this key trades {ours['portfolio']}"
        return None

    def _expired(self, record: Mapping[str, Any]) -> bool:
        final = record.get("final")
        if record.get("phase") != "done" or not isinstance(final, dict):
            return False
        try:
            ended = datetime.fromisoformat(str(final.get("updated_at")))
        except ValueError:
            return False
        if ended.tzinfo is None:
            ended = ended.replace(tzinfo=UTC)
        return ended < self.broker.now() - self.terminal_retention

    def _register(self, em: Emulated) -> None:
        self._orders[em.order.order_id] = em
        self._by_coid[em.order.client_order_id] = em.order.order_id

    def _forget(self, em: Emulated) -> None:
        self._orders.pop(em.order.order_id, None)
        self._by_coid.pop(em.order.client_order_id, None)
        if self.store is not None:
            self.store.delete(em.order.order_id)

    async def restore(self) -> int:
        """After connect(): re-arm persisted triggers, adopting children already at the venue.

        Returns how many are live again. A record that cannot be rebuilt is logged, counted and left
        in the store for a human; a venue error while reconciling is retried by the poll loop.
        """
        if self.store is None:
            return 0
        restored: list[Emulated] = []
        for trigger_id, record in self.store.load_all().items():
            if trigger_id in self._orders:
                continue
            if self._expired(record):
                self.store.delete(trigger_id)
                self.broker.counters["triggers.pruned"] += 1
                continue
            elsewhere = self._other_venue(record)
            if elsewhere is not None:
                self.broker.counters["triggers.restore_other_venue"] += 1
                level = logging.INFO if record.get("phase") == "done" else logging.ERROR
                log.log(level, "client trigger %s not re-armed: %s (record left in the store)", trigger_id, elsewhere)
                continue
            try:
                em = from_record(record, self.broker.products)
            except ValueError as exc:
                self.broker.counters["triggers.restore_failed"] += 1
                log.error("client trigger %s not re-armed: %s", trigger_id, exc)
                continue
            self._register(em)
            if em.phase == "done":
                self.broker.counters["triggers.restored_terminal"] += 1
            else:
                restored.append(em)
        async with self._lock:
            for em in restored:
                try:
                    await self._resume(em)
                    if em.phase != "done":
                        await self._refresh_children(em)
                except BrokerageError as exc:
                    log.warning("client trigger %s: reconcile deferred (%s)", em.order.order_id, exc.reason)
        self.broker.counters["triggers.restored"] += len(restored)
        if restored:
            log.info("client triggers: %d re-armed from the store", len(restored))
            self._ensure_task()
        return len(restored)

    # ---------------------------------------------------------------------------------- lifecycle
    async def submit(self, req: OrderRequest, product: Product) -> Order:
        oid = PREFIX + req.client_order_id
        if oid in self._orders:
            return self._orders[oid].order
        em = Emulated(order=parent_order(req, self.broker.now()), request=req, product=product)
        if req.order_type is OrderType.BRACKET:
            em.phase = "working"  # the take-profit is due now; recorded before it is sent
        self._register(em)
        self._save(em)
        self.broker.counters["triggers.emulated"] += 1
        if req.order_type is OrderType.BRACKET:
            try:
                await self._send_child(em, "tp", req.limit_price, em.order.size)
            except TransientError as exc:
                log.warning("%s: take-profit send unresolved (%s); reconciled by client id", oid, exc.reason)
            except BrokerageError:
                self._forget(em)
                raise
        self._ensure_task()
        return em.order

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop watching prices. Persisted records stay: the next start re-arms them."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while any(em.phase != "done" for em in self._orders.values()):
            try:
                await self.check_all()
            except BrokerageError as exc:
                log.warning("client triggers: check failed (%s); retrying", exc.reason)
            except Exception:  # the loop guards real money: log, count, keep going
                self.broker.counters["triggers.errors"] += 1
                log.exception("client triggers: unexpected error; retrying")
            await asyncio.sleep(self.poll_interval_s)

    async def _send_child(self, em: Emulated, tag: str, price: Decimal | None, size: Decimal) -> None:
        if size <= 0 or price is None:
            return
        req = OrderRequest(
            symbol=em.product.symbol,
            side=em.order.side,
            order_type=OrderType.LIMIT,
            size=size,
            limit_price=price,
            time_in_force=TimeInForce.GTC,
            client_order_id=f"{em.order.client_order_id}-{tag}",
        )
        child = await self.broker.submit_native(req)
        em.children[tag] = child.order_id
        self._save(em)
        self.broker.counters[f"triggers.child.{tag}"] += 1

    async def check_all(self) -> None:
        async with self._lock:
            for em in list(self._orders.values()):
                if em.phase == "done":
                    continue
                await self._resume(em)
                if em.phase == "done":
                    continue
                await self._refresh_children(em)
                if em.phase == "done":
                    continue
                quote = await self.broker.get_quote(em.product.symbol)
                await self.on_price(em, quote.last)

    async def on_price(self, em: Emulated, last: Decimal) -> None:
        req = em.request
        if em.phase == "armed" and req.order_type is OrderType.STOP_LIMIT:
            assert req.stop_price is not None and em.order.stop_direction is not None
            if stop_crossed(em.order.stop_direction, req.stop_price, last):
                em.order.triggered = True
                em.phase = "working"
                self._save(em)
                await self._send_child(em, "sl", req.limit_price, em.order.size)
        elif em.phase == "working" and req.order_type is OrderType.BRACKET:
            assert req.stop_trigger_price is not None
            direction = StopDirection.STOP_DOWN if req.side is OrderSide.SELL else StopDirection.STOP_UP
            if stop_crossed(direction, req.stop_trigger_price, last):
                em.order.triggered = True
                em.phase = "stopping"
                self._save(em)
                await self._stop_leg(em)

    async def _stop_leg(self, em: Emulated) -> None:
        """Bracket stop: cancel the take-profit if still working, then protect what remains (idempotent)."""
        req = em.request
        assert req.stop_trigger_price is not None
        tp = em.children.get("tp")
        if tp is not None:
            await self._refresh_children(em)
            if em.phase != "done" and not em.child_status[tp].is_terminal:
                await self.broker.cancel_orders([tp])
                await self._refresh_children(em)
            if em.phase == "done":
                return
        remaining = em.order.size - em.order.filled_size
        one = Decimal(1)
        factor = one - self.slippage if req.side is OrderSide.SELL else one + self.slippage
        protect = quantize_price(req.stop_trigger_price * factor, em.product, req.side)
        await self._send_child(em, "st", protect, remaining)

    # ------------------------------------------------------------------------------ reconciliation
    def _due_tag(self, em: Emulated) -> str | None:
        """The child the recorded phase promises has been sent."""
        if em.request.order_type is OrderType.STOP_LIMIT:
            return "sl" if em.phase == "working" else None
        return {"working": "tp", "stopping": "st"}.get(em.phase)

    async def _resume(self, em: Emulated) -> None:
        """Finish what a crash (or an unresolved send) interrupted: adopt children the venue already
        has under their derived client ids; send only a due child it does not have."""
        if em.phase == "cancelling":
            await self._finish_cancel(em)
            return
        due = self._due_tag(em)
        if due is None or due in em.children:
            return
        found = await self._venue_children(em)
        adopted = set(found) - set(em.children)
        if adopted:
            merged = {**found, **em.children}  # ids we already hold win
            em.children = {tag: merged[tag] for tag in CHILD_TAGS if tag in merged}
            self.broker.counters["triggers.children_adopted"] += len(adopted)
            self._save(em)
        if due in em.children:
            return
        self.broker.counters["triggers.resumed_sends"] += 1
        if due == "st":
            await self._stop_leg(em)
        else:
            price = em.request.limit_price
            await self._send_child(em, due, price, em.order.size)

    async def _venue_children(self, em: Emulated) -> dict[str, str]:
        coids = {f"{em.order.client_order_id}-{tag}": tag for tag in CHILD_TAGS}
        since = (em.order.created_at or self.broker.now()) - _CHILD_SEARCH_SLACK
        found: dict[str, str] = {}
        for w in await self.broker.rest.all_orders(product_ids=[em.product.symbol], start_date=since):
            tag = coids.get(w.client_order_id)
            if tag is not None:
                found.setdefault(tag, w.order_id)
        return found

    async def _refresh_children(self, em: Emulated) -> None:
        for tag in CHILD_TAGS:
            cid = em.children.get(tag)
            if cid is not None:
                self._take_child(em, cid, to_order(await self.broker.rest.get_order(cid)))
        self._settle(em)

    @staticmethod
    def _take_child(em: Emulated, cid: str, o: Order) -> None:
        """Hold a child's state unless it is older than the one held (less filled, or working again after
        it ended): a REST read and a user-channel event may arrive in either order."""
        held = em.child_status.get(cid)
        if o.filled_size < em.child_filled.get(cid, ZERO) or (
            held is not None and held.is_terminal and not o.is_terminal
        ):
            return
        em.child_filled[cid] = o.filled_size
        em.child_value[cid] = o.filled_size * (o.avg_fill_price or ZERO)
        em.child_fees[cid] = o.fees
        em.child_status[cid] = o.status

    def _settle(self, em: Emulated) -> None:
        """The order's fills and status from its children's (the last child sent decides how it ended)."""
        last = next((em.children[t] for t in reversed(CHILD_TAGS) if t in em.children), None)
        last_status = em.child_status.get(last) if last is not None else None
        filled = sum(em.child_filled.values(), ZERO)
        value = sum(em.child_value.values(), ZERO)
        em.order.filled_size = filled
        em.order.avg_fill_price = value / filled if filled > 0 else None
        em.order.fees = sum(em.child_fees.values(), ZERO)
        em.order.updated_at = self.broker.now()
        new = self._status(em, last_status)
        if new is not None and new is not em.order.status:
            em.order = msgspec.structs.replace(em.order, status=new)
        if em.order.is_terminal and em.phase != "done":
            em.phase = "done"
            self._save(em)

    def pushed(self, update: OrderUpdate) -> OrderUpdate | None:
        """A venue child's user-channel event told as its client-side order's (None: not a child of one
        held here). The bot knows only that order, so the child's event alone matches nothing it tracks
        and its fill waits for a REST poll; told as the order's, it is applied as it arrives. No venue call:
        the child's state is folded in (`_take_child`) and the order's recomputed."""
        em = self._owner(update.order.order_id, update.order.client_order_id)
        if em is None:
            return None
        self._take_child(em, update.order.order_id, update.order)
        self._settle(em)
        parent = em.order
        fills = tuple(
            msgspec.structs.replace(f, order_id=parent.order_id, client_order_id=parent.client_order_id)
            for f in update.fills
        )
        self.broker.counters["triggers.child_events"] += 1
        return OrderUpdate(order=msgspec.structs.replace(parent), fills=fills, ts=update.ts)

    @staticmethod
    def _status(em: Emulated, last_child: OrderStatus | None) -> OrderStatus | None:
        if em.order.filled_size >= em.order.size > 0:
            return OrderStatus.FILLED
        ended = (OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.FAILED, OrderStatus.REJECTED)
        if last_child in ended:
            if em.phase == "stopping" and "st" not in em.children:
                return None  # the take-profit was cancelled on purpose; the stop leg follows
            return last_child
        if em.order.filled_size > 0:
            return OrderStatus.PARTIALLY_FILLED
        return None

    # --------------------------------------------------------------------------------- queries
    async def get(self, order_id: str) -> Order:
        em = self._orders.get(order_id)
        if em is None:
            raise NotFoundError(f"no client-side order {order_id}", reason="NOT_FOUND")
        if em.children and em.phase != "done":
            async with self._lock:
                await self._refresh_children(em)
        return em.order

    async def edit(
        self,
        order_id: str,
        *,
        stop_price: Decimal | None,
        price: Decimal | None = None,
        size: Decimal | None = None,
    ) -> Order:
        """Move an armed stop in place (same id, nothing sent): a STOP_LIMIT's stop (and limit `price`)
        before it fires, a bracket's stop trigger while its take-profit rests. Recorded before it counts."""
        em = self._orders.get(order_id)
        if em is None:
            raise NotFoundError(f"no client-side order {order_id}", reason="NOT_FOUND")
        kind = em.request.order_type
        armed = (kind is OrderType.STOP_LIMIT and em.phase == "armed") or (
            kind is OrderType.BRACKET and em.phase == "working"
        )
        if not armed or em.order.is_terminal:
            raise InvalidOrderError(
                f"client-side {kind.value} {order_id} is {em.phase}; only an armed stop can be amended",
                reason="INVALID_ORDER_STATE",
            )
        if stop_price is None or size is not None or (kind is OrderType.BRACKET and price is not None):
            raise InvalidOrderError(
                "a client-side stop amends its stop_price (and a STOP_LIMIT's limit price) only",
                reason="UNSUPPORTED_ORDER_CONFIGURATION",
            )
        if stop_price <= 0 or (price is not None and price <= 0):
            raise InvalidOrderError(
                f"stop_price and price must be > 0, got {stop_price}, {price}", reason="INVALID_STOP_PRICE"
            )
        side = em.request.side
        stop = quantize_price(stop_price, em.product, side)
        # the caller may have moved our (shared) order object to PENDING_AMEND; an armed stop is working
        status = OrderStatus.OPEN if em.order.status is OrderStatus.PENDING_AMEND else em.order.status
        async with self._lock:
            if kind is OrderType.STOP_LIMIT:
                limit = quantize_price(price, em.product, side) if price is not None else em.request.limit_price
                em.request = msgspec.structs.replace(em.request, stop_price=stop, limit_price=limit)
                em.order = msgspec.structs.replace(
                    em.order, stop_price=stop, limit_price=limit, status=status, updated_at=self.broker.now()
                )
            else:
                em.request = msgspec.structs.replace(em.request, stop_trigger_price=stop)
                em.order = msgspec.structs.replace(
                    em.order, stop_trigger_price=stop, status=status, updated_at=self.broker.now()
                )
            self._save(em)
        self.broker.counters["triggers.amended"] += 1
        return msgspec.structs.replace(em.order)  # a copy: the caller's status moves stay its own

    async def cancel(self, order_id: str) -> bool:
        em = self._orders.get(order_id)
        if em is None or em.order.is_terminal:
            return False
        async with self._lock:
            em.phase = "cancelling"
            self._save(em)
            await self._finish_cancel(em)
        return em.order.status is OrderStatus.CANCELLED

    async def _finish_cancel(self, em: Emulated) -> None:
        live = [cid for cid in em.children.values() if not em.child_status.get(cid, OrderStatus.OPEN).is_terminal]
        if live:
            await self.broker.cancel_orders(live)
        if em.children:
            await self._refresh_children(em)
        if not em.order.is_terminal:
            em.order = msgspec.structs.replace(em.order, status=OrderStatus.CANCELLED, updated_at=self.broker.now())
        if em.phase != "done":
            em.phase = "done"
            self._save(em)

    async def working(self, venue_symbol: str | None) -> list[Order]:
        return [
            em.order
            for em in self._orders.values()
            if not em.order.is_terminal and (venue_symbol is None or em.product.symbol == venue_symbol)
        ]
