"""Client-side STOP_LIMIT and BRACKET for spot products where the venue has no native version.

Semantics match the shared MatchingEngine, so strategies see one behaviour everywhere (DESIGN §1):
- STOP_LIMIT: armed until the last trade crosses `stop_price` in `stop_direction`, then a GTC limit
  at `limit_price` is sent.
- BRACKET (an exit): a GTC limit rests at `limit_price` (take profit); when the last trade crosses
  `stop_trigger_price`, the take-profit is cancelled and a protective limit `slippage` through the
  trigger is sent for what remains.
The synthetic order (id `cs-<client_order_id>`) mirrors its venue children. Child client ids are
derived (`<coid>-sl`, `<coid>-tp`, `<coid>-st`), so a retried send never duplicates at the venue.
Armed state lives in memory only: after a restart, armed (unsent) triggers are gone and the
reconciler sees only the children already at the venue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from gpt_trader.features.brokerages.coinbase.parsing import to_order
from gpt_trader.features.brokerages.core.interfaces import (
    ZERO,
    BrokerageError,
    NotFoundError,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    ProductType,
    StopDirection,
    TimeInForce,
)
from gpt_trader.features.brokerages.core.quantization import quantize_price

if TYPE_CHECKING:
    from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker

log = logging.getLogger(__name__)
PREFIX = "cs-"
DEFAULT_SLIPPAGE = Decimal("0.05")  # same default as the MatchingEngine's bracket stop leg


@dataclass
class Emulated:
    order: Order
    request: OrderRequest
    product: Product
    phase: str = "armed"  # armed | working | stopping | done
    children: list[str] = field(default_factory=list)
    child_filled: dict[str, Decimal] = field(default_factory=dict)
    child_value: dict[str, Decimal] = field(default_factory=dict)
    child_fees: dict[str, Decimal] = field(default_factory=dict)


def stop_crossed(direction: StopDirection, stop: Decimal, last: Decimal) -> bool:
    return last >= stop if direction is StopDirection.STOP_UP else last <= stop


class ClientTriggers:
    def __init__(self, broker: CoinbaseBroker, *, poll_interval_s: float = 1.0, slippage: Decimal = DEFAULT_SLIPPAGE):
        self.broker = broker
        self.mode = broker.settings.client_side_stops
        self.poll_interval_s = poll_interval_s
        self.slippage = slippage
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

    # ---------------------------------------------------------------------------------- lifecycle
    async def submit(self, req: OrderRequest, product: Product) -> Order:
        oid = PREFIX + req.client_order_id
        if oid in self._orders:
            return self._orders[oid].order
        now = self.broker.now()
        direction = req.stop_direction or (
            StopDirection.STOP_UP if req.side is OrderSide.BUY else StopDirection.STOP_DOWN
        )
        order = Order(
            order_id=oid,
            client_order_id=req.client_order_id,
            symbol=req.symbol,
            side=req.side,
            order_type=req.order_type,
            size=req.size or ZERO,
            status=OrderStatus.OPEN,
            time_in_force=req.time_in_force,
            limit_price=req.limit_price,
            stop_price=req.stop_price,
            stop_direction=direction if req.order_type is OrderType.STOP_LIMIT else None,
            stop_trigger_price=req.stop_trigger_price,
            created_at=now,
            updated_at=now,
        )
        em = Emulated(order=order, request=req, product=product)
        self._orders[oid] = em
        self._by_coid[req.client_order_id] = oid
        self.broker.counters["triggers.emulated"] += 1
        if req.order_type is OrderType.BRACKET:
            await self._send_child(em, "tp", req.limit_price, em.order.size)
            em.phase = "working"
        self._ensure_task()
        return order

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
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
        em.children.append(child.order_id)
        self.broker.counters[f"triggers.child.{tag}"] += 1

    async def check_all(self) -> None:
        async with self._lock:
            for em in list(self._orders.values()):
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
                await self._send_child(em, "sl", req.limit_price, em.order.size)
        elif em.phase == "working" and req.order_type is OrderType.BRACKET:
            assert req.stop_trigger_price is not None
            direction = StopDirection.STOP_DOWN if req.side is OrderSide.SELL else StopDirection.STOP_UP
            if stop_crossed(direction, req.stop_trigger_price, last):
                em.order.triggered = True
                em.phase = "stopping"
                tp = em.children[0] if em.children else None
                if tp is not None:
                    await self.broker.cancel_orders([tp])
                    await self._refresh_children(em)
                remaining = em.order.size - em.order.filled_size
                one = Decimal(1)
                factor = one - self.slippage if req.side is OrderSide.SELL else one + self.slippage
                protect = quantize_price(req.stop_trigger_price * factor, em.product, req.side)
                await self._send_child(em, "st", protect, remaining)

    async def _refresh_children(self, em: Emulated) -> None:
        last_status: OrderStatus | None = None
        for cid in em.children:
            o = to_order(await self.broker.rest.get_order(cid))
            em.child_filled[cid] = o.filled_size
            em.child_value[cid] = o.filled_size * (o.avg_fill_price or ZERO)
            em.child_fees[cid] = o.fees
            last_status = o.status
        filled = sum(em.child_filled.values(), ZERO)
        value = sum(em.child_value.values(), ZERO)
        em.order.filled_size = filled
        em.order.avg_fill_price = value / filled if filled > 0 else None
        em.order.fees = sum(em.child_fees.values(), ZERO)
        em.order.updated_at = self.broker.now()
        new = self._status(em, last_status)
        if new is not None and new is not em.order.status:
            em.order = msgspec.structs.replace(em.order, status=new)
        if em.order.is_terminal:
            em.phase = "done"

    @staticmethod
    def _status(em: Emulated, last_child: OrderStatus | None) -> OrderStatus | None:
        if em.order.filled_size >= em.order.size > 0:
            return OrderStatus.FILLED
        ended = (OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.FAILED, OrderStatus.REJECTED)
        if last_child in ended:
            if em.phase == "stopping" and len(em.children) < 2:
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

    async def cancel(self, order_id: str) -> bool:
        em = self._orders.get(order_id)
        if em is None or em.order.is_terminal:
            return False
        async with self._lock:
            live = list(em.children)
            if live:
                await self.broker.cancel_orders(live)
                await self._refresh_children(em)
            if not em.order.is_terminal:
                em.order = msgspec.structs.replace(em.order, status=OrderStatus.CANCELLED, updated_at=self.broker.now())
            em.phase = "done"
        return em.order.status is OrderStatus.CANCELLED

    async def working(self, venue_symbol: str | None) -> list[Order]:
        return [
            em.order
            for em in self._orders.values()
            if not em.order.is_terminal and (venue_symbol is None or em.product.symbol == venue_symbol)
        ]
