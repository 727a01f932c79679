"""Limit entries: rest at the touch (or better), follow the market by amending, give up after a timeout.

Why: a market entry always pays the taker fee and the spread; a post-only limit at the touch pays the maker
fee when the market comes to it. Configured by the profile's `entry:` section:
`{type: limit, offset_bps, post_only, timeout_s, reprice: amend|cancel}`.

Each cycle `manage()` looks at the bot's working limit entries (tracked orders that are neither exits nor
protection): one older than `timeout_s` (venue time since its creation) is cancelled; one whose wanted
price (touch -/+ offset) has moved a tick is re-priced, by `edit_order` (same order id; the venue amends
GTC limits) with `reprice: amend`, or by cancel and a new intent (`<entry intent>#reprice:<n>`, recorded
before it is sent) with `reprice: cancel` or when the amend is refused. A partial fill is a position at
once: ProtectionManager protects the filled part on the same cycle. Nothing here needs its own state
across restarts: the working entries come back from reconciliation with their creation times.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Literal

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
    Quote,
    TimeInForce,
)
from gpt_trader.features.brokerages.core.quantization import quantize_price
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.live_execution import LiveExecutionEngine
from gpt_trader.orchestration.protection import STOPOUT_TAG, is_protective_intent

log = structlog.get_logger("limit_entry")

REPRICE_TAG = "#reprice:"


class EntryConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How entries are sent: `market` (IOC, the default) or a resting `limit` (module docstring)."""

    type: Literal["market", "limit"] = "market"
    offset_bps: Annotated[float, msgspec.Meta(ge=0, le=500)] = 0.0
    post_only: bool = True
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 120.0
    reprice: Literal["amend", "cancel"] = "amend"


def limit_price(config: EntryConfig, side: OrderSide, quote: Quote, product: Product) -> Decimal:
    """The touch (bid for a buy, ask for a sell) moved `offset_bps` away from the other side, on the tick."""
    offset = Decimal(repr(config.offset_bps)) / Decimal(10_000)
    if side is OrderSide.BUY:
        return quantize_price(quote.bid * (1 - offset), product, side)
    return quantize_price(quote.ask * (1 + offset), product, side)


def entry_request(
    config: EntryConfig, symbol: str, side: OrderSide, size: Decimal, quote: Quote, product: Product
) -> OrderRequest:
    """The resting entry order for `config.type == "limit"`."""
    return OrderRequest(
        symbol=symbol,
        side=side,
        order_type=OrderType.LIMIT,
        size=size,
        limit_price=limit_price(config, side, quote, product),
        time_in_force=TimeInForce.GTC,
        post_only=config.post_only,
    )


class LimitEntryManager:
    """Times out and re-prices the bot's resting limit entries (module docstring)."""

    def __init__(
        self,
        execution: LiveExecutionEngine,
        metrics: MetricsRegistry,
        products: Mapping[str, Product],
        config: EntryConfig,
    ) -> None:
        self.execution = execution
        self.metrics = metrics
        self.products = products
        self.config = config

    def _intent_of(self, client_order_id: str) -> str:
        stored = self.execution.orders.get(client_order_id)
        return stored.intent_id if stored is not None else ""

    def working_entries(self) -> list[Order]:
        out = []
        for coid, order in self.execution.tracked.items():
            if order.order_type is not OrderType.LIMIT or not order.status.is_working:
                continue
            intent = self._intent_of(coid)
            if intent and not is_protective_intent(intent) and STOPOUT_TAG not in intent:
                out.append(order)
        return out

    async def manage(self, quotes: Mapping[str, Quote]) -> None:
        if self.config.type != "limit":
            return
        now = self.execution.broker.now()
        for order in self.working_entries():
            created = order.created_at
            if created is not None and (now - created).total_seconds() >= self.config.timeout_s:
                self.metrics.inc("entries.limit_timeout")
                log.info("limit entry timed out; cancelling", symbol=order.symbol, filled=str(order.filled_size))
                await self.execution.cancel(order.client_order_id)
                continue
            quote = quotes.get(order.symbol)
            product = self.products.get(order.symbol)
            if quote is None or product is None:
                continue
            wanted = limit_price(self.config, order.side, quote, product)
            if wanted == order.limit_price:
                continue
            await self._reprice(order, wanted)

    async def _reprice(self, order: Order, price: Decimal) -> None:
        if self.config.reprice == "amend":
            try:
                await self.execution.amend(order.client_order_id, price=price)
                self.metrics.inc("entries.repriced_amend")
                return
            except InvalidOrderError as exc:  # e.g. a post-only price that would now cross
                self.metrics.inc("entries.amend_refused")
                log.info("entry amend refused; cancel and replace", symbol=order.symbol, reason=exc.reason)
            except BrokerageError as exc:
                self.metrics.inc("entries.amend_failed")
                log.warning("entry amend failed; cancel and replace", symbol=order.symbol, error=type(exc).__name__)
        intent = self._intent_of(order.client_order_id)
        remaining = order.size - order.filled_size
        if not await self.execution.cancel(order.client_order_id) or remaining <= 0:
            return
        base, _, n = intent.partition(REPRICE_TAG)
        nxt = f"{base}{REPRICE_TAG}{int(n) + 1 if n.isdigit() else 1}"
        request = OrderRequest(
            symbol=order.symbol,
            side=order.side,
            order_type=OrderType.LIMIT,
            size=remaining,
            limit_price=price,
            time_in_force=TimeInForce.GTC,
            post_only=self.config.post_only,
        )
        self.metrics.inc("entries.repriced_replace")
        await self.execution.submit(request, intent_id=nxt)
