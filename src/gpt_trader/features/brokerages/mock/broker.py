"""MockBroker: synthetic markets + the shared MatchingEngine, in process, on a simulated clock.

Same seed and same calls give the same fills, ids and balances. Time moves only through
`advance_time`; each sub-step moves every market, and the engine sees every intermediate book for the
symbols where that matters (working orders or an open perps position), otherwise the final book.
Scenario hooks (`set_price`, `fail_next`, `freeze_feed`, `set_liquidity`, `transfer`) let risk tests stage
flash crashes, API error bursts, stale feeds, thin books and user deposits/withdrawals.
The account starts with `starting_cash` of each quote currency its products trade in: USD for the spot
pairs, USDC (the perp collateral, as on INTX) when the catalog lists perpetuals.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from gpt_trader.features.brokerages.core.interfaces import (
    Balance,
    BrokerageError,
    Candle,
    InsufficientFundsError,
    MarketEvent,
    NotFoundError,
    OrderBook,
    OrderUpdate,
    Product,
    Quote,
    TradeTick,
    TransientError,
)
from gpt_trader.features.brokerages.core.matching import EngineEvent, FeeSchedule, MatchingEngine
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.features.brokerages.core.synthetic import SyntheticConfig, SyntheticMarket, derive_seed
from gpt_trader.features.simulation import SimulatedExecution

ACCOUNT = "mock"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_QUEUE_MAX = 10_000
_CLOSED = object()


class _Subscription:
    """A bounded queue; when a slow reader lets it fill, the oldest event is dropped."""

    def __init__(self, symbols: frozenset[str] | None = None) -> None:
        self.symbols = symbols
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=_QUEUE_MAX)
        self.dropped = 0

    def put(self, item: object) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(item)


class MockBroker(SimulatedExecution):
    """A deterministic in-process venue (DESIGN §1 "mock broker (dev)")."""

    name = "mock"
    account_id = ACCOUNT

    def __init__(
        self,
        products: Sequence[Product] | None = None,
        symbols: Sequence[str] | None = None,
        seed: int = 42,
        start: datetime | None = None,
        step_s: float = 1.0,
        fees: FeeSchedule | None = None,
        starting_cash: Decimal = Decimal("100000"),
        starting_assets: dict[str, Decimal] | None = None,
        history_bars: int = 1000,
        book_depth: int = 20,
        config: SyntheticConfig | None = None,
    ) -> None:
        catalog = list(products) if products is not None else default_products()
        if symbols is not None:
            known = {p.symbol: p for p in catalog}
            unknown = [s for s in symbols if s not in known]
            if unknown:
                raise ValueError(f"unknown symbols {unknown}; allowed: {', '.join(sorted(known))}")
            catalog = [known[s] for s in symbols]
        if not catalog:
            raise ValueError("MockBroker needs at least one product")
        self._products = {p.symbol: p for p in catalog}
        self.start = start or datetime(2025, 1, 1, tzinfo=UTC)
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware UTC")
        self._elapsed = 0.0
        self.history_bars = history_bars
        self.book_depth = book_depth
        if config is None:
            config = SyntheticConfig(book_levels=book_depth)
        self.market = SyntheticMarket(catalog, seed=seed, start=self.start, step_s=step_s, config=config)
        self.engine = MatchingEngine(
            catalog,
            fees=fees or FeeSchedule(),
            clock=self.now,
            seed=derive_seed(seed, "engine"),
            book_events=False,
        )
        self.engine.add_listener(self._on_engine_event)
        self._connected = False
        self._fail_remaining = 0
        self._fail_cls: type[BrokerageError] = TransientError
        self._frozen: dict[str, tuple[Quote, OrderBook]] = {}
        self._market_subs: list[_Subscription] = []
        self._user_subs: list[_Subscription] = []
        self.injected_failures = 0
        #: Recent engine events (fills, order updates, funding, liquidations) for scenario assertions.
        self.engine_events: deque[EngineEvent] = deque(maxlen=_QUEUE_MAX)
        for symbol in self._products:
            self._push_book(symbol)
        if starting_cash:
            for quote in sorted({p.quote_asset for p in catalog}):
                self.engine.fund(ACCOUNT, quote, starting_cash)
        for asset, amount in (starting_assets or {}).items():
            self.engine.fund(ACCOUNT, asset, amount)

    # ================================================================== clock
    def now(self) -> datetime:
        return self.start + timedelta(seconds=self._elapsed)

    async def advance_time(self, seconds: float) -> None:
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds}")
        base = self._elapsed

        def on_step(_: list[TradeTick]) -> None:
            self._elapsed = (self.market.now - self.start).total_seconds()
            stepped = False
            for symbol in self._products:
                if self.engine.needs_ticks(symbol):
                    self._push_book(symbol)
                    stepped = True
            if stepped:
                self.engine.advance(self.now())

        self.market.advance(seconds, on_step=on_step)
        self._elapsed = base + seconds
        for symbol in self._products:
            self._push_book(symbol)
        self.engine.advance(self.now())
        self._publish_quotes()

    # ================================================================== scenario hooks
    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move a market to `price` at once (flash crash / squeeze); resting orders and stops react."""
        self._product(symbol)
        self.market.set_mid(symbol, price)
        self._push_book(symbol)
        self.engine.advance(self.now())
        self._publish_quotes([symbol])

    def transfer(self, asset: str, amount: Decimal) -> Balance:
        """An external deposit (amount > 0) or withdrawal (amount < 0) of `asset`, as a user moving money in
        or out of the account. A withdrawal larger than the available balance raises InsufficientFundsError."""
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount == 0:
            raise ValueError(f"transfer amount must be a non-zero finite Decimal, got {amount!r}")
        known = {p.quote_asset for p in self._products.values()} | {p.base_asset for p in self._products.values()}
        if asset not in known:
            raise ValueError(f"unknown asset {asset!r}; allowed: {', '.join(sorted(known))}")
        if amount < 0:
            available = self.engine.balance(ACCOUNT, asset).available
            if -amount > available:
                raise InsufficientFundsError(
                    f"cannot withdraw {-amount} {asset}: only {available} {asset} available",
                    reason="INSUFFICIENT_FUND",
                )
        return self.engine.fund(ACCOUNT, asset, amount)

    def fail_next(self, n: int, error_cls: type[BrokerageError] = TransientError) -> None:
        """The next `n` broker API calls raise `error_cls` (an API-failure burst)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self._fail_remaining = n
        self._fail_cls = error_cls

    def freeze_feed(self, symbol: str, frozen: bool = True) -> None:
        """Stale feed: quotes and books for `symbol` stop updating (timestamps included) until unfrozen.
        The venue itself keeps trading on the live market underneath."""
        self._product(symbol)
        if frozen:
            if symbol not in self._frozen:
                self._frozen[symbol] = (self._live_quote(symbol), self.engine.book(symbol, self.book_depth))
        else:
            self._frozen.pop(symbol, None)

    def set_liquidity(self, symbol: str, spread_bps: float | None = None, depth_scale: float | None = None) -> None:
        """Thin or widen a book (spread in bps, depth multiplier); applies from now on."""
        self._product(symbol)
        self.market.set_liquidity(symbol, spread_bps, depth_scale)
        self._push_book(symbol)

    # ================================================================== Broker
    async def connect(self) -> None:
        self._connected = True

    async def close(self) -> None:
        self._connected = False
        for sub in self._market_subs + self._user_subs:
            sub.put(_CLOSED)
        self._market_subs.clear()
        self._user_subs.clear()

    async def list_products(self) -> list[Product]:
        self._maybe_fail("list_products")
        return list(self._products.values())

    async def get_product(self, symbol: str) -> Product:
        self._maybe_fail("get_product")
        return self._product(symbol)

    async def get_quote(self, symbol: str) -> Quote:
        self._maybe_fail("get_quote")
        self._product(symbol)
        frozen = self._frozen.get(symbol)
        return frozen[0] if frozen else self._live_quote(symbol)

    async def get_order_book(self, symbol: str, depth: int = 50) -> OrderBook:
        self._maybe_fail("get_order_book")
        self._product(symbol)
        frozen = self._frozen.get(symbol)
        if frozen:
            book = frozen[1]
            return OrderBook(symbol=symbol, bids=book.bids[:depth], asks=book.asks[:depth], ts=book.ts)
        book = self.engine.book(symbol, depth)
        return OrderBook(symbol=symbol, bids=book.bids, asks=book.asks, ts=self.now())

    async def get_candles(
        self,
        symbol: str,
        granularity_s: int,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 350,
    ) -> list[Candle]:
        """Oldest first: generated history before the session start, then the session's own candles."""
        self._maybe_fail("get_candles")
        self._product(symbol)
        if limit <= 0:
            raise BrokerageError(f"limit must be > 0, got {limit}", reason="INVALID_ARGUMENT")
        if granularity_s <= 0 or granularity_s % 60:
            raise BrokerageError(
                f"granularity_s must be a positive multiple of 60, got {granularity_s}", reason="INVALID_ARGUMENT"
            )
        end = end or (self.now() + timedelta(seconds=granularity_s))
        if start is None:
            start = end - timedelta(seconds=granularity_s * limit)
        session = self.market.candles(symbol, granularity_s, start, end)
        elapsed = int((self.start - _EPOCH).total_seconds())
        first_session = _EPOCH + timedelta(seconds=elapsed - elapsed % granularity_s)
        history: list[Candle] = []
        if start < first_session:
            need = min(self.history_bars, math.ceil((first_session - start).total_seconds() / granularity_s))
            history = [c for c in self.market.history(symbol, need, granularity_s) if start <= c.start < end]
        return (history + session)[-limit:]

    # place_order, cancel_orders, edit_order, get_order, get_order_by_client_id, list_orders, list_fills,
    # list_balances, list_positions: SimulatedExecution over `self.engine` (faults injected in before_call)
    def matching_engine(self) -> MatchingEngine:
        return self.engine

    def before_call(self, name: str) -> None:
        self._maybe_fail(name)

    def stream_market_data(self, symbols: Sequence[str]) -> AsyncIterator[MarketEvent]:
        """Quotes after every advance (none while a symbol's feed is frozen) and trades of our fills.
        Starts with a quote snapshot per symbol."""
        for symbol in symbols:
            self._product(symbol)
        sub = _Subscription(frozenset(symbols))
        self._market_subs.append(sub)
        for symbol in symbols:
            frozen = self._frozen.get(symbol)
            sub.put(frozen[0] if frozen else self._live_quote(symbol))
        return self._drain(sub, self._market_subs)

    def stream_user_events(self) -> AsyncIterator[OrderUpdate]:
        sub = _Subscription()
        self._user_subs.append(sub)
        return self._drain(sub, self._user_subs)

    # ================================================================== internals
    async def _drain(self, sub: _Subscription, registry: list[_Subscription]) -> AsyncIterator[Any]:
        try:
            while True:
                item = await sub.queue.get()
                if item is _CLOSED:
                    return
                yield item
        finally:
            if sub in registry:
                registry.remove(sub)

    def _maybe_fail(self, op: str) -> None:
        if self._fail_remaining > 0:
            self._fail_remaining -= 1
            self.injected_failures += 1
            raise self._fail_cls(f"injected failure in {op} (mock fail_next)")

    def _product(self, symbol: str) -> Product:
        product = self._products.get(symbol)
        if product is None:
            raise NotFoundError(
                f"unknown product {symbol!r}; known: {', '.join(sorted(self._products))}",
                reason="INVALID_PRODUCT_ID",
            )
        return product

    def _push_book(self, symbol: str) -> None:
        book = self.market.book(symbol, self.book_depth)
        self.engine.set_book(symbol, book.bids, book.asks, self.now())

    def _live_quote(self, symbol: str) -> Quote:
        book = self.engine.book(symbol, 1)
        market_quote = self.market.quote(symbol)
        bid = book.best_bid if book.best_bid is not None else market_quote.bid
        ask = book.best_ask if book.best_ask is not None else market_quote.ask
        last = market_quote.last  # the market tape; our own fills print at those prices too
        product = self._products[symbol]
        mark = self.engine.mark(symbol) if product.is_perpetual else None
        return Quote(symbol=symbol, bid=bid, ask=ask, last=last, ts=self.now(), mark=mark)

    def _publish_quotes(self, symbols: Sequence[str] | None = None) -> None:
        if not self._market_subs:
            return
        for symbol in symbols or list(self._products):
            if symbol in self._frozen:
                continue
            quote = self._live_quote(symbol)
            for sub in self._market_subs:
                if sub.symbols is None or symbol in sub.symbols:
                    sub.put(quote)

    def _on_engine_event(self, event: EngineEvent) -> None:
        self.engine_events.append(event)
        if isinstance(event, OrderUpdate):
            for sub in self._user_subs:
                sub.put(event)
        elif isinstance(event, TradeTick):
            if event.symbol in self._frozen:
                return
            for sub in self._market_subs:
                if sub.symbols is None or event.symbol in sub.symbols:
                    sub.put(event)
