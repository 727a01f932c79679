"""The simulated exchange behind the protocol: the shared MatchingEngine plus what Coinbase adds on top
(account/portfolio ids, order history extras, candles, market-trade history, 24h stats, WS fan-out).

Engine listeners fire synchronously inside engine calls; events are queued and published right after
the call returns, so an order id is always known to its owner before anything about it goes out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec

from gpt_trader.exchange_sim.audit import audit_account
from gpt_trader.exchange_sim.auth import Principal
from gpt_trader.exchange_sim.candles import CandleStore
from gpt_trader.exchange_sim.convert import ConvertDesk
from gpt_trader.exchange_sim.faults import FaultInjector
from gpt_trader.exchange_sim.intx import IntxGate
from gpt_trader.exchange_sim.marketdata import BookShaper, MarketSource, MarketStep, PinnedBooks
from gpt_trader.exchange_sim.portfolio import PortfolioViews
from gpt_trader.exchange_sim.portfolio_book import PortfolioBook
from gpt_trader.exchange_sim.schemas import OrderConfiguration
from gpt_trader.exchange_sim.wire import (
    NS,
    OrderExtras,
    OrderReject,
    ProductStats,
    d,
    order_configuration,
    order_to_wire,
    pct_change,
    product_type_wire,
    rfc3339,
    unix_s,
    user_order_event,
)
from gpt_trader.exchange_sim.ws import WsHub
from gpt_trader.features.brokerages.core.interfaces import (
    ZERO,
    Balance,
    BookLevel,
    BrokerageError,
    Candle,
    Fill,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    Order,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderUpdate,
    Product,
    TradeTick,
)
from gpt_trader.features.brokerages.core.matching import FundingEvent, LiquidationEvent, MatchingEngine
from gpt_trader.features.brokerages.core.matching.fees import compute_fee

log = logging.getLogger(__name__)


class SimClock:
    """Simulated time: wall-clock driven at `speed`, plus explicit jumps from the admin API."""

    def __init__(self, start: dt.datetime | None = None, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.start = start or dt.datetime.now(dt.UTC)
        self.speed = speed
        self._m0 = time.monotonic()
        self._offset = 0.0
        #: how far the venue's own wall clock is ahead of true time (negative: behind). `/time` and the
        #: auth time window use it (admin `POST /admin/clock_skew`); the market clock does not move.
        self.skew_s = 0.0

    def now(self) -> dt.datetime:
        elapsed = (time.monotonic() - self._m0) * self.speed + self._offset
        return self.start + dt.timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> dt.datetime:
        if seconds < 0:
            raise ValueError(f"cannot move the clock backwards ({seconds} s)")
        self._offset += seconds
        return self.now()


@dataclass
class VenueConfig:
    #: [?] "existing": a reused client_order_id answers success:true with the first order's id
    #: (the docs say the existing order is returned); "reject": success:false INVALID_REQUEST.
    duplicate_client_order_id: str = "existing"
    book_depth: int = 50
    ticker_batch_s: float = 5.0
    market_trades_batch_s: float = 0.25
    candles_push_s: float = 1.0


@dataclass
class AccountInfo:
    account_id: str
    user_uuid: str
    portfolio_uuid: str
    deposits: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    funding_paid: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))

    def wallet_uuid(self, asset: str) -> str:
        return str(uuid.uuid5(NS, f"{self.account_id}/{asset}"))


@dataclass
class PendingOrder:
    """An order accepted while the `delay_fills` fault holds it back from the matching engine."""

    public_id: str
    account_id: str
    request: OrderRequest
    order: Order
    handle: asyncio.TimerHandle | None = None


class SimVenue:
    def __init__(
        self,
        engine: MatchingEngine,
        clock: SimClock,
        faults: FaultInjector,
        *,
        config: VenueConfig | None = None,
        sources: list[MarketSource] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.faults = faults
        self.config = config or VenueConfig()
        self.sources = sources or []
        self.pinned = PinnedBooks()
        #: what GET /key_permissions answers for every key (admin `POST /admin/key_permissions` changes it)
        self.key_permissions: dict[str, bool] = {"can_view": True, "can_trade": True, "can_transfer": False}
        self.hub: WsHub | None = None
        self.candles_store = CandleStore()
        self._products = engine.products
        self._accounts: dict[str, AccountInfo] = {}
        self._trades: dict[str, deque[TradeTick]] = defaultdict(lambda: deque(maxlen=1000))
        self._events: list[Any] = []
        self._flush_scheduled = False
        self._edit_history: dict[str, list[dict[str, str]]] = defaultdict(list)
        self._order_fills: dict[str, dict[str, dt.datetime]] = defaultdict(dict)  # engine id -> trade id -> ts
        self._cancel_msg: dict[str, str] = {}
        self._pending: dict[str, PendingOrder] = {}
        self._pending_by_client: dict[tuple[str, str], str] = {}
        self._pending_failed: dict[str, tuple[str, Order]] = {}  # held-back orders that ended early
        self._alias: dict[str, str] = {}  # engine id -> public id
        self._unalias: dict[str, str] = {}  # public id -> engine id
        self._published: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
        self._dirty: set[str] = set()
        self._trade_batch: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._ticker_changed: set[str] = set()
        self._stats_cache: dict[str, tuple[float, ProductStats]] = {}
        self.funding_events: list[FundingEvent] = []
        self.liquidations: list[LiquidationEvent] = []
        self.malformed_events = 0
        self.views = PortfolioViews(self)
        self.portfolios = PortfolioBook(self)
        self.convert = ConvertDesk(self)
        self.intx = IntxGate()
        engine.add_listener(self._on_event)

    # =============================================================================== basics
    def now(self) -> dt.datetime:
        return self.clock.now()

    def products(self) -> list[Product]:
        return list(self._products.values())

    def product(self, product_id: str) -> Product:
        product = self._products.get(product_id)
        if product is None:
            raise NotFoundError(f"product {product_id!r} not found", reason="NOT_FOUND")
        return product

    def has_product(self, product_id: str) -> bool:
        return product_id in self._products

    def product_ids(self) -> list[str]:
        return list(self._products)

    def account(self, account_id: str) -> AccountInfo:
        info = self._accounts.get(account_id)
        if info is None:
            info = AccountInfo(
                account_id=account_id,
                user_uuid=str(uuid.uuid5(NS, f"user/{account_id}")),
                portfolio_uuid=str(uuid.uuid5(NS, f"portfolio/{account_id}")),
            )
            self._accounts[account_id] = info
        return info

    def user_uuid(self, account_id: str) -> str:
        return self.account(account_id).user_uuid

    def portfolio_uuid(self, account_id: str) -> str:
        return self.account(account_id).portfolio_uuid

    def fund(self, account_id: str, asset: str, amount: Decimal) -> Balance:
        balance = self.engine.fund(account_id, asset, amount)
        self.account(account_id).deposits[asset] += amount
        self._schedule_flush()
        return balance

    def ledger_transfer(self, ledger_id: str, asset: str, amount: Decimal) -> Balance:
        """Credit (or, negative, debit available) one portfolio ledger; the audit counts it as a deposit."""
        balance = self.engine.fund(ledger_id, asset, amount)
        self.account(ledger_id).deposits[asset] += amount
        self._schedule_flush()
        return balance

    def public_id(self, engine_id: str) -> str:
        return self._alias.get(engine_id, engine_id)

    def engine_id(self, public_id: str) -> str:
        return self._unalias.get(public_id, public_id)

    # =========================================================================== market data
    def stats(self, symbol: str) -> ProductStats:
        now = self.now()
        cached = self._stats_cache.get(symbol)
        if cached is not None and time.monotonic() - cached[0] < 0.5:
            return cached[1]
        product = self.product(symbol)
        eng = self.engine
        mid = eng.mid(symbol) or ZERO
        last = eng.last_price(symbol) or mid
        opened, volume, _low, _high = self.candles_store.window_stats(symbol, now)
        stats = ProductStats(
            price=last,
            price_24h_ago=opened or last,
            volume_24h=volume,
            mid=mid,
            funding_rate=eng.funding_rate(symbol) if product.is_perpetual else ZERO,
            funding_time=eng.next_funding_time(symbol) if product.is_perpetual else None,
            open_interest=self._open_interest(symbol) if product.is_perpetual else ZERO,
        )
        self._stats_cache[symbol] = (time.monotonic(), stats)
        return stats

    def _open_interest(self, symbol: str) -> Decimal:
        total = ZERO
        for account_id in self.engine.accounts():
            for pos in self.engine.positions(account_id):
                if pos.symbol == symbol and pos.size > 0:
                    total += pos.size
        return total

    def book(self, symbol: str, depth: int) -> OrderBook:
        return self.engine.book(symbol, depth)

    def candles(self, symbol: str, granularity_s: int, start: dt.datetime, end: dt.datetime) -> list[Candle]:
        return self.candles_store.query(symbol, granularity_s, start, end)

    def market_trades(self, symbol: str, limit: int) -> list[TradeTick]:
        trades = self._trades[symbol]
        return list(reversed(trades))[:limit]

    def seed_history(self) -> None:
        now = self.now()
        for product in self.products():
            for source in self.sources:
                parts = source.history(product, now)
                for candles, interval in parts:
                    self.candles_store.seed(product.symbol, candles, interval)
                if any(c for c, _ in parts):
                    break

    def step_market(self) -> None:
        """Pull the current book/prints from the sources into the engine, then run time-based work."""
        now = self.now()
        for product in self.products():
            self._step_product(product, now)
        self._finish_step(now)

    async def step_market_async(self) -> None:
        """The feed loop's version: yields to the event loop between products so one tick never blocks
        order handling for longer than one product's book update."""
        now = self.now()
        for product in self.products():
            self._step_product(product, now)
            await asyncio.sleep(0)
        self._finish_step(now)

    def _step_product(self, product: Product, now: dt.datetime) -> None:
        step = self.pinned.step(product)
        if step is None:
            for source in self.sources:
                step = source.step(product, now)
                if step is not None:
                    break
        if step is not None:
            self._apply_step(product, step, now)
        self._flush()

    def _finish_step(self, now: dt.datetime) -> None:
        self.engine.advance(now)
        self.faults.run_periodic()
        self._flush()

    def _apply_step(self, product: Product, step: MarketStep, now: dt.datetime) -> None:
        if step.unchanged:
            return
        symbol = product.symbol
        self.engine.set_book(symbol, step.bids, step.asks, now)
        self._dirty.add(symbol)
        for p in step.prints:
            self.engine.record_trade(symbol, p.price, now)
            self._on_trade(
                TradeTick(symbol=symbol, trade_id=str(uuid.uuid4()), price=p.price, size=p.size, side=p.side, ts=now)
            )

    def set_price(self, symbol: str, price: Decimal) -> None:
        product = self.product(symbol)
        now = self.now()
        if symbol in self.pinned.books:
            bids, asks = BookShaper(levels=self.config.book_depth).build(product, price)
            self.pinned.pin(symbol, bids, asks)
        else:
            for source in self.sources:
                if source.covers(symbol):
                    source.set_price(product, price, now)
                    break
            else:
                raise NotFoundError(f"no market source drives {symbol}")
        self.step_market()

    def release_book(self, symbol: str) -> bool:
        released = self.pinned.release(symbol)
        for source in self.sources:
            source.invalidate(symbol)
        self.step_market()
        return released

    def pin_book(self, symbol: str, bids: list[BookLevel], asks: list[BookLevel]) -> None:
        self.product(symbol)
        self.pinned.pin(symbol, tuple(bids), tuple(asks))
        self.step_market()

    # ================================================================================ orders
    def encode_config(self, config: OrderConfiguration) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(config)
        return out

    def config_of(self, order: Order) -> dict[str, Any]:
        return order_configuration(order)

    async def create_order(self, account_id: str, req: OrderRequest) -> tuple[Order, bool]:
        """Submit (or, under `delay_fills`, accept and hold back). Refusals raise OrderReject."""
        self.account(account_id)
        if not self.has_product(req.symbol):
            raise OrderReject("INVALID_PRODUCT_ID", f"product {req.symbol!r} does not exist")
        self.intx.check_order(self.product(req.symbol))
        delay = self.faults.fill_delay_s()
        if delay > 0:
            return self._hold_back(account_id, req, delay)
        pending_id = self._pending_by_client.get((account_id, req.client_order_id))
        if pending_id is not None:
            return self._pending[pending_id].order, True
        try:
            result = self.engine.submit(account_id, req)
        except (InvalidOrderError, InsufficientFundsError) as exc:
            raise OrderReject(exc.reason, str(exc)) from exc
        finally:
            self._flush()
        return result.order, result.duplicate

    def _hold_back(self, account_id: str, req: OrderRequest, delay: float) -> tuple[Order, bool]:
        existing = self.engine.find_by_client_id(account_id, req.client_order_id) if req.client_order_id else None
        if existing is not None:
            return existing, True
        pending_id = self._pending_by_client.get((account_id, req.client_order_id))
        if pending_id is not None:
            return self._pending[pending_id].order, True
        preview = self.engine.preview(account_id, req)
        blocking = [e for e in preview.errors if e != "INVALID_NO_LIQUIDITY"]
        if blocking:
            raise OrderReject(blocking[0], f"order refused: {blocking[0]}")
        public_id = str(uuid.uuid4())
        now = self.now()
        order = Order.from_request(req, order_id=public_id, status=OrderStatus.OPEN, at=now)
        pending = PendingOrder(public_id, account_id, req, order)
        self._pending[public_id] = pending
        self._pending_by_client[(account_id, req.client_order_id)] = public_id
        pending.handle = asyncio.get_running_loop().call_later(delay, self._release_pending, public_id)
        self._publish_order(account_id, order)
        return order, False

    def _release_pending(self, public_id: str) -> None:
        pending = self._pending.pop(public_id, None)
        if pending is None:
            return
        self._pending_by_client.pop((pending.account_id, pending.request.client_order_id), None)
        try:
            result = self.engine.submit(pending.account_id, pending.request)
        except BrokerageError as exc:
            order = pending.order
            order.reject_reason = exc.reason
            order.transition(OrderStatus.FAILED, at=self.now())
            self._pending_failed[public_id] = (pending.account_id, order)
            self._publish_order(pending.account_id, order)
            self._flush()
            return
        engine_id = result.order.order_id
        self._alias[engine_id] = public_id
        self._unalias[public_id] = engine_id
        self._flush()

    def preview(self, account_id: str, req: OrderRequest) -> dict[str, Any]:
        self.account(account_id)
        if not self.has_product(req.symbol):
            raise OrderReject("INVALID_PRODUCT_ID", f"product {req.symbol!r} does not exist")
        self.intx.check_order(self.product(req.symbol))
        p = self.engine.preview(account_id, req)
        product = self.product(req.symbol)
        lev = req.leverage or Decimal(1)
        return {
            "order_total": d(p.total),
            "commission_total": d(p.fee),
            "errs": [f"PREVIEW_{e}" for e in p.errors],
            "warning": [],
            "quote_size": d(p.quote_size),
            "base_size": d(p.base_size),
            "best_bid": d(p.best_bid),
            "best_ask": d(p.best_ask),
            "is_max": False,
            "order_margin_total": d((p.quote_size / lev).quantize(product.quote_increment))
            if product.is_perpetual
            else "0",
            "leverage": d(lev),
            "long_leverage": d(lev),
            "short_leverage": d(lev),
            "slippage": d(p.slippage.quantize(Decimal("0.00000001"))),
            "preview_id": str(uuid.uuid4()),
            "current_liquidation_buffer": "0",
            "projected_liquidation_buffer": "0",
            "max_leverage": d(product.max_leverage),
            "pnl_configuration": None,
            "average_filled_price": d(p.avg_price) if p.avg_price is not None else "0",
        }

    async def cancel(self, account_id: str, public_ids: list[str]) -> list[tuple[str, bool, str]]:
        results: list[tuple[str, bool, str]] = []
        seen: set[str] = set()
        for public_id in public_ids:
            if public_id in seen:
                results.append((public_id, False, "DUPLICATE_CANCEL_REQUEST"))
                continue
            seen.add(public_id)
            pending = self._pending.get(public_id)
            if pending is not None and pending.account_id == account_id:
                if pending.handle is not None:
                    pending.handle.cancel()
                self._pending.pop(public_id)
                self._pending_by_client.pop((account_id, pending.request.client_order_id), None)
                pending.order.transition(OrderStatus.CANCELLED, at=self.now())
                self._pending_failed[public_id] = (account_id, pending.order)
                self._cancel_msg[public_id] = "User requested cancel"
                self._publish_order(account_id, pending.order)
                results.append((public_id, True, "UNKNOWN_CANCEL_FAILURE_REASON"))
                continue
            try:
                self.engine.cancel(account_id, self.engine_id(public_id))
                self._cancel_msg[self.engine_id(public_id)] = "User requested cancel"
                results.append((public_id, True, "UNKNOWN_CANCEL_FAILURE_REASON"))
            except NotFoundError:
                results.append((public_id, False, "UNKNOWN_CANCEL_ORDER"))
            except BrokerageError as exc:
                results.append((public_id, False, exc.reason))
        self._flush()
        return results

    def edit(self, account_id: str, public_id: str, size: Decimal | None, price: Decimal | None) -> Order:
        eid = self.engine_id(public_id)
        if public_id in self._pending:
            raise InvalidOrderError("order is not yet working; retry", reason="ORDER_IS_BEING_REPLACED")
        try:
            order = self.engine.edit(account_id, eid, size=size, price=price)
        finally:
            self._flush()
        self._edit_history[eid].append(
            {
                "price": d(order.limit_price),
                "size": d(order.size),
                "replace_accept_timestamp": rfc3339(self.now()),
            }
        )
        return order

    def edit_preview(
        self, account_id: str, public_id: str, size: Decimal | None, price: Decimal | None
    ) -> dict[str, Any]:
        order = self.get_order(account_id, public_id)
        product = self.product(order.symbol)
        new_size = size if size is not None else order.size
        new_price = price if price is not None else order.limit_price
        errors: list[dict[str, str]] = []
        if order.order_type.value != "LIMIT" or order.time_in_force.value != "GTC":
            errors.append({"edit_failure_reason": "UNSUPPORTED_ORDER_CONFIGURATION"})
        elif not order.status.is_working:
            errors.append({"edit_failure_reason": "ORDER_IS_FULLY_FILLED"})
        tier = self.engine.fee_tier(account_id, perpetual=product.is_perpetual)
        notional = (new_size - order.filled_size) * (new_price or ZERO)
        fee = compute_fee(notional, tier.maker_fee_rate)
        book = self.engine.book(order.symbol, 1)
        return {
            "errors": errors,
            "slippage": "0",
            "order_total": d(notional + fee if order.side is OrderSide.BUY else notional - fee),
            "commission_total": d(fee),
            "quote_size": d(notional),
            "base_size": d(new_size),
            "best_bid": d(book.best_bid),
            "best_ask": d(book.best_ask),
            "average_filled_price": d(order.avg_fill_price) if order.avg_fill_price else "0",
        }

    def close_position(self, account_id: str, client_order_id: str, product_id: str, size: Decimal | None) -> Order:
        if not self.has_product(product_id):
            raise OrderReject("INVALID_PRODUCT_ID", f"product {product_id!r} does not exist")
        self.intx.check_order(self.product(product_id))
        try:
            result = self.engine.close_position(account_id, product_id, size, client_order_id)
        except (InvalidOrderError, InsufficientFundsError) as exc:
            raise OrderReject(exc.reason, str(exc)) from exc
        finally:
            self._flush()
        return result.order

    def get_order(self, account_id: str, public_id: str) -> Order:
        pending = self._pending.get(public_id)
        if pending is not None and pending.account_id == account_id:
            return pending.order
        failed = self._pending_failed.get(public_id)
        if failed is not None and failed[0] == account_id:
            return failed[1]
        try:
            return self.engine.get_order(account_id, self.engine_id(public_id))
        except NotFoundError as exc:
            raise NotFoundError(f"order {public_id} not found", reason="NOT_FOUND") from exc

    def all_orders(self, account_id: str) -> list[Order]:
        self.account(account_id)
        orders = self.engine.list_orders(account_id, open_only=False)
        orders += [p.order for p in self._pending.values() if p.account_id == account_id]
        orders += [o for acct, o in self._pending_failed.values() if acct == account_id]
        return orders

    def fills(self, account_id: str) -> list[Fill]:
        self.account(account_id)
        return self.engine.list_fills(account_id)

    def order_extras(self, order: Order, account_id: str | None = None) -> OrderExtras:
        eid = order.order_id
        if account_id is None:
            try:
                account_id = self.engine.account_of(eid)
            except NotFoundError:
                account_id = next((p.account_id for p in self._pending.values() if p.public_id == eid), "")
        info = self.account(account_id) if account_id else None
        fills = self._order_fills.get(eid, {})
        product = self.product(order.symbol)
        hold = ZERO
        if order.status.is_working and order.limit_price is not None:
            hold = order.remaining_size * (order.limit_price if order.side is OrderSide.BUY else Decimal(1))
        return OrderExtras(
            user_id=info.user_uuid if info else "",
            portfolio_id=info.portfolio_uuid if info else "",
            product_type=product_type_wire(product),
            number_of_fills=len(fills),
            last_fill_time=max(fills.values()) if fills else None,
            edit_history=tuple(self._edit_history.get(eid, ())),
            outstanding_hold=hold,
            cancel_message=self._cancel_msg.get(eid, ""),
        )

    def order_wire(self, order: Order, account_id: str | None = None) -> dict[str, Any]:
        wire = order_to_wire(order, self.order_extras(order, account_id))
        wire["order_id"] = self.public_id(order.order_id)
        return wire

    # =========================================================================== events / WS
    def _on_event(self, event: Any) -> None:
        self._events.append(event)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._flush_scheduled = True
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        events, self._events = self._events, []
        touched_accounts: set[str] = set()
        for event in events:
            try:
                if isinstance(event, OrderUpdate):
                    seen = self._order_fills[event.order.order_id]
                    for f in event.fills:
                        seen[f.trade_id] = f.ts
                    account_id = self.engine.account_of(event.order.order_id)
                    touched_accounts.add(account_id)
                    self._publish_order(account_id, event.order)
                    self._dirty.add(event.order.symbol)
                elif isinstance(event, TradeTick):
                    self._on_trade(event)
                elif isinstance(event, FundingEvent):
                    self.funding_events.append(event)
                    self.account(event.account_id).funding_paid[event.symbol] += event.payment
                    touched_accounts.add(event.account_id)
                elif isinstance(event, LiquidationEvent):
                    self.liquidations.append(event)
                    touched_accounts.add(event.account_id)
            except BrokerageError:
                self.malformed_events += 1
                log.exception("venue: could not route engine event %s", type(event).__name__)
        for account_id in touched_accounts:
            self._publish_balance_summary(account_id)
        self.publish_books()

    def _on_trade(self, tick: TradeTick) -> None:
        self._trades[tick.symbol].append(tick)
        self.candles_store.record(tick.symbol, tick.ts, tick.price, tick.size)
        self._stats_cache.pop(tick.symbol, None)
        if self.hub is None:
            return
        self._trade_batch[tick.symbol].append(self._trade_wire(tick))
        self._ticker_changed.add(tick.symbol)
        if self.hub.has_subscribers("ticker", tick.symbol):
            self.hub.publish("ticker", tick.symbol, [{"type": "update", "tickers": [self.ticker_wire(tick.symbol)]}])

    @staticmethod
    def _trade_wire(t: TradeTick) -> dict[str, Any]:
        return {
            "trade_id": t.trade_id,
            "product_id": t.symbol,
            "price": d(t.price),
            "size": d(t.size),
            "side": t.side.value,
            "time": rfc3339(t.ts),
        }

    def ticker_wire(self, symbol: str) -> dict[str, Any]:
        now = self.now()
        stats = self.stats(symbol)
        book = self.engine.book(symbol, 1)
        _opened, volume, low, high = self.candles_store.window_stats(symbol, now)
        _o52, _v52, low52, high52 = self.candles_store.window_stats(symbol, now, 365 * 86_400)
        return {
            "type": "ticker",
            "product_id": symbol,
            "price": d(stats.price),
            "volume_24_h": d(volume),
            "low_24_h": d(low or stats.price),
            "high_24_h": d(high or stats.price),
            "low_52_w": d(low52 or stats.price),
            "high_52_w": d(high52 or stats.price),
            "price_percent_chg_24_h": pct_change(stats.price, stats.price_24h_ago),
            "best_bid": d(book.best_bid),
            "best_bid_quantity": d(book.bids[0].size) if book.bids else "",
            "best_ask": d(book.best_ask),
            "best_ask_quantity": d(book.asks[0].size) if book.asks else "",
        }

    def _publish_order(self, account_id: str, order: Order) -> None:
        if self.hub is None or not self.hub.has_private_subscribers("user", account_id):
            return
        product = self.product(order.symbol)
        event = user_order_event(order, product, self.order_extras(order, account_id))
        event["order_id"] = self.public_id(order.order_id)
        self.hub.publish_private(
            "user",
            account_id,
            order.symbol,
            [{"type": "update", "orders": [event], "positions": self.views.user_positions(account_id)}],
        )

    def _publish_balance_summary(self, account_id: str) -> None:
        if self.hub is None or not self.hub.has_private_subscribers("futures_balance_summary", account_id):
            return
        self.hub.publish_private(
            "futures_balance_summary",
            account_id,
            None,
            [{"type": "update", "fcm_balance_summary": self.views.futures_balance_summary(account_id)}],
        )

    # ----------------------------------------------------------------------------- level2
    def _levels(self, symbol: str) -> dict[str, dict[Decimal, Decimal]]:
        book = self.engine.book(symbol, self.config.book_depth)
        return {
            "bid": {lv.price: lv.size for lv in book.bids},
            "offer": {lv.price: lv.size for lv in book.asks},
        }

    def publish_books(self, symbols: set[str] | None = None) -> None:
        """Send level2 diffs (absolute sizes, "0" removes) for books that changed since last sent."""
        if self.hub is None:
            self._dirty.clear()
            return
        todo = symbols if symbols is not None else self._dirty
        now_text = ""
        for symbol in list(todo):
            if not self.hub.has_subscribers("level2", symbol):
                self._published.pop(symbol, None)
                continue
            if self.faults.is_stalled(symbol):
                continue
            new = self._levels(symbol)
            old = self._published.get(symbol, {"bid": {}, "offer": {}})
            now_text = now_text or rfc3339(self.now())
            updates = []
            for side in ("bid", "offer"):
                o, n = old[side], new[side]
                for price in o.keys() | n.keys():
                    size = n.get(price, ZERO)
                    if o.get(price) != n.get(price):
                        updates.append(
                            {
                                "side": side,
                                "event_time": now_text,
                                "price_level": d(price),
                                "new_quantity": d(size),
                            }
                        )
            self._published[symbol] = new
            if updates:
                self.hub.publish("level2", symbol, [{"type": "update", "product_id": symbol, "updates": updates}])
        if symbols is None:
            self._dirty.clear()

    def periodic_market_pushes(self, kind: str) -> None:
        """Batched channels: market_trades (250 ms), ticker_batch (5 s), candles (1 s)."""
        if self.hub is None:
            return
        if kind == "market_trades":
            batch, self._trade_batch = self._trade_batch, defaultdict(list)
            for symbol, trades in batch.items():
                self.hub.publish("market_trades", symbol, [{"type": "update", "trades": list(reversed(trades))}])
        elif kind == "ticker_batch":
            changed, self._ticker_changed = self._ticker_changed, set()
            for symbol in changed:
                if self.hub.has_subscribers("ticker_batch", symbol):
                    self.hub.publish(
                        "ticker_batch", symbol, [{"type": "update", "tickers": [self.ticker_wire(symbol)]}]
                    )
        elif kind == "candles":
            now = self.now()
            for symbol in self.product_ids():
                if self.hub.has_subscribers("candles", symbol):
                    c = self.candles_store.latest(symbol, 300, now)
                    if c is not None:
                        self.hub.publish("candles", symbol, [{"type": "update", "candles": [self._candle_wire(c)]}])

    @staticmethod
    def _candle_wire(c: Candle) -> dict[str, Any]:
        return {
            "start": unix_s(c.start),
            "high": d(c.high),
            "low": d(c.low),
            "open": d(c.open),
            "close": d(c.close),
            "volume": d(c.volume),
            "product_id": c.symbol,
        }

    # ------------------------------------------------------------------------ WS snapshots
    def snapshot_events(
        self, channel: str, product_ids: list[str], principal: Principal | None
    ) -> list[dict[str, Any]]:
        if channel == "level2":
            out = []
            for symbol in product_ids:
                if self.faults.is_stalled(symbol) and symbol in self._published:
                    levels = self._published[symbol]
                else:
                    self.publish_books({symbol})  # bring existing subscribers level first
                    levels = self._levels(symbol)
                    self._published[symbol] = levels
                when = "1970-01-01T00:00:00Z"
                updates = [
                    {"side": side, "event_time": when, "price_level": d(p), "new_quantity": d(s)}
                    for side in ("bid", "offer")
                    for p, s in sorted(levels[side].items(), reverse=side == "bid")
                ]
                out.append({"type": "snapshot", "product_id": symbol, "updates": updates})
            return out
        if channel in ("ticker", "ticker_batch"):
            return [{"type": "snapshot", "tickers": [self.ticker_wire(s) for s in product_ids]}]
        if channel == "market_trades":
            trades = [self._trade_wire(t) for s in product_ids for t in self.market_trades(s, 50)]
            return [{"type": "snapshot", "trades": trades}]
        if channel == "candles":
            now = self.now()
            candles = []
            for s in product_ids:
                got = self.candles_store.query(
                    s, 300, now - dt.timedelta(seconds=300 * 100), now + dt.timedelta(seconds=1)
                )
                candles += [self._candle_wire(c) for c in reversed(got)]
            return [{"type": "snapshot", "candles": candles}]
        if channel == "status":
            return [{"type": "snapshot", "products": [self._status_wire(self.product(s)) for s in product_ids]}]
        if channel == "user" and principal is not None:
            orders = [
                o
                for o in self.all_orders(principal.account_id)
                if o.status.is_working and (not product_ids or o.symbol in product_ids)
            ]
            events = []
            for i in range(0, max(len(orders), 1), 50):
                chunk = []
                for o in orders[i : i + 50]:
                    ev = user_order_event(o, self.product(o.symbol), self.order_extras(o, principal.account_id))
                    ev["order_id"] = self.public_id(o.order_id)
                    chunk.append(ev)
                events.append(
                    {
                        "type": "snapshot",
                        "orders": chunk,
                        "positions": self.views.user_positions(principal.account_id),
                    }
                )
            return events
        if channel == "futures_balance_summary" and principal is not None:
            return [
                {
                    "type": "snapshot",
                    "fcm_balance_summary": self.views.futures_balance_summary(principal.account_id),
                }
            ]
        return []

    def _status_wire(self, p: Product) -> dict[str, Any]:
        return {
            "product_type": product_type_wire(p),
            "id": p.symbol,
            "base_currency": p.base_asset,
            "quote_currency": p.quote_asset,
            "base_increment": d(p.base_increment),
            "quote_increment": d(p.quote_increment),
            "display_name": p.symbol,
            "status": "offline" if p.trading_disabled else "online",
            "status_message": "",
            "min_market_funds": d(p.quote_min_size),
        }

    # ================================================================================ audit
    def audit(self, account_id: str) -> dict[str, Any]:
        """Balances recomputed from deposits, fills, fees and funding, compared with the engine."""
        return audit_account(self, account_id)

    def audit_all(self) -> dict[str, Any]:
        """`audit` of every account the venue knows; ok only when each one is."""
        accounts = {a: audit_account(self, a) for a in sorted(self._accounts)}
        return {"ok": all(r["ok"] for r in accounts.values()), "accounts": accounts}
