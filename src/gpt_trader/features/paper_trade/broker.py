"""`PaperBroker`: a venue whose market is real (a feed Broker) and whose fills are simulated.

Every order goes to the shared MatchingEngine (the same fill model as the mock broker, the simulator
and the backtest replay), fed with the feed's L2 book and trade prints. Nothing is ever sent to the
feed venue; the feed is only read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from gpt_trader.features.brokerages.core.interfaces import (
    BookLevel,
    BookUpdate,
    Broker,
    Candle,
    LoadShedding,
    MarketEvent,
    NotFoundError,
    Order,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderUpdate,
    Position,
    Product,
    Quote,
    StalenessReporting,
    StreamingVenue,
    TradeTick,
    VenueTimed,
)
from gpt_trader.features.brokerages.core.matching import EngineEvent, FeeSchedule, MatchingEngine
from gpt_trader.features.brokerages.core.startup_wait import StartupWait, StartupWaiting
from gpt_trader.features.simulation import SimulatedExecution

log = logging.getLogger(__name__)
ACCOUNT = "paper"


class _LocalBook:
    __slots__ = ("asks", "bids", "dirty", "in_snapshot", "synced")

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.in_snapshot = False
        self.synced = False
        self.dirty = False

    def apply(self, u: BookUpdate) -> None:
        if u.is_snapshot and not self.in_snapshot:
            self.bids.clear()
            self.asks.clear()
        self.in_snapshot = u.is_snapshot
        side = self.bids if u.side is OrderSide.BUY else self.asks
        if u.size == 0:
            side.pop(u.price, None)
        else:
            side[u.price] = u.size
        self.synced = True
        self.dirty = True

    def levels(self, depth: int) -> tuple[list[BookLevel], list[BookLevel]]:
        bids = sorted(self.bids, reverse=True)[:depth]
        asks = sorted(self.asks)[:depth]
        return [BookLevel(p, self.bids[p]) for p in bids], [BookLevel(p, self.asks[p]) for p in asks]


class PaperBroker(SimulatedExecution):
    """Broker protocol; orders/balances/positions local, market data from `feed`."""

    name = "paper"
    account_id = ACCOUNT

    def __init__(
        self,
        feed: Broker,
        symbols: Sequence[str],
        *,
        starting_cash: Decimal = Decimal("10000"),
        quote_asset: str | None = None,
        fees: FeeSchedule | None = None,
        book_depth: int = 50,
        refresh_s: float = 0.25,
    ) -> None:
        if not symbols:
            raise ValueError("PaperBroker needs at least one symbol")
        self.feed = feed
        self.symbols = list(dict.fromkeys(symbols))
        self.starting_cash = starting_cash
        self.quote_asset = quote_asset
        self.fees = fees
        self.book_depth = book_depth
        self.refresh_s = refresh_s
        self.engine: MatchingEngine | None = None
        self.products: dict[str, Product] = {}
        self._books: dict[str, _LocalBook] = {}
        self._user_queues: list[asyncio.Queue[OrderUpdate]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.feed_errors = 0
        self.book_pushes = 0

    # --------------------------------------------------------------------------------- lifecycle
    def set_startup_wait(self, wait: StartupWait | None) -> None:
        """StartupWaiting: the live feed's start-up reads wait a venue burst out (orders are local)."""
        if isinstance(self.feed, StartupWaiting):
            self.feed.set_startup_wait(wait)

    def shed_stats(self) -> dict[str, float]:
        """LoadShedding: the live feed's market-stream coalescing (empty when the feed does not shed)."""
        return self.feed.shed_stats() if isinstance(self.feed, LoadShedding) else {}

    async def connect(self) -> None:
        if self.engine is not None:
            return
        await self.feed.connect()
        for s in self.symbols:
            self.products[s] = await self.feed.get_product(s)
        self.engine = MatchingEngine(list(self.products.values()), fees=self.fees, clock=self.feed.now)
        self.engine.add_listener(self._on_engine_event)
        if self.starting_cash > 0:
            # None: each quote currency traded (USD for spot, USDC collateral for INTX perps), as the mock
            quotes = [self.quote_asset] if self.quote_asset else sorted({p.quote_asset for p in self.products.values()})
            for quote in quotes:
                self.engine.fund(ACCOUNT, quote, self.starting_cash)
        for s in self.symbols:
            book = await self.feed.get_order_book(s, self.book_depth)
            self.engine.set_book(s, book.bids, book.asks, self.now())
            self._books[s] = _LocalBook()
        self._tasks = [asyncio.create_task(self._pump()), asyncio.create_task(self._refresh_loop())]

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        await self.feed.close()

    def now(self) -> datetime:
        return self.feed.now()

    async def sync_clock(self) -> datetime:
        """Paper time is the feed venue's time."""
        if isinstance(self.feed, VenueTimed):
            return await self.feed.sync_clock()
        return self.feed.now()

    def stream_counters(self) -> dict[str, int]:
        out = dict(self.feed.stream_counters()) if isinstance(self.feed, StreamingVenue) else {}
        out["paper.feed_errors"] = self.feed_errors
        return out

    def market_stream_fresh(self, symbol: str) -> bool:
        return isinstance(self.feed, StreamingVenue) and self.feed.market_stream_fresh(symbol)

    def user_stream_live(self) -> bool:
        """Order events come from the in-process matching engine: always live once connected."""
        return self.engine is not None

    def set_staleness_callback(self, callback: Callable[[str, float], None]) -> None:
        if isinstance(self.feed, StalenessReporting):
            self.feed.set_staleness_callback(callback)

    def _eng(self) -> MatchingEngine:
        if self.engine is None:
            raise RuntimeError("PaperBroker.connect() has not been called")
        return self.engine

    # ----------------------------------------------------------------------------------- feed
    async def _pump(self) -> None:
        """Feed events -> local books (pushed on the refresh tick) and trade prints (stops fire on them)."""
        while True:
            try:
                async for ev in self.feed.stream_market_data(self.symbols):
                    if isinstance(ev, BookUpdate):
                        book = self._books.get(ev.symbol)
                        if book is not None:
                            book.apply(ev)
                    elif isinstance(ev, TradeTick) and ev.symbol in self.products:
                        self._eng().record_trade(ev.symbol, ev.price, ev.ts)
            except asyncio.CancelledError:
                raise
            except Exception:  # a broken feed must not end paper trading: log, count, reconnect
                self.feed_errors += 1
                log.exception("paper: market feed failed; restarting")
                await asyncio.sleep(1.0)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.feed_errors += 1
                log.exception("paper: book refresh failed")

    async def refresh(self) -> None:
        """Push changed books to the engine; REST-poll symbols whose stream has no book; run the clock."""
        eng = self._eng()
        now = self.now()
        for s, book in self._books.items():
            if book.synced and book.dirty:
                bids, asks = book.levels(self.book_depth)
                eng.set_book(s, bids, asks, now)
                book.dirty = False
                self.book_pushes += 1
            elif not book.synced:
                ob = await self.feed.get_order_book(s, self.book_depth)
                eng.set_book(s, ob.bids, ob.asks, now)
                self.book_pushes += 1
        eng.advance(now)

    def _on_engine_event(self, event: EngineEvent) -> None:
        if isinstance(event, OrderUpdate):
            for q in self._user_queues:
                q.put_nowait(event)

    # ------------------------------------------------------------------------------ market data
    async def list_products(self) -> list[Product]:
        return list(self.products.values())

    async def get_product(self, symbol: str) -> Product:
        p = self.products.get(symbol)
        if p is None:
            raise NotFoundError(f"{symbol!r} is not in the paper universe {self.symbols}", reason="INVALID_PRODUCT_ID")
        return p

    async def get_quote(self, symbol: str) -> Quote:
        """The feed's quote with bid/ask from the book our orders actually trade against."""
        q = await self.feed.get_quote(symbol)
        book = self._eng().book(symbol, 1)
        if book.best_bid is not None and book.best_ask is not None:
            q = msgspec.structs.replace(q, bid=book.best_bid, ask=book.best_ask)
        return q

    async def get_order_book(self, symbol: str, depth: int = 50) -> OrderBook:
        await self.get_product(symbol)
        return self._eng().book(symbol, depth)

    async def get_candles(
        self,
        symbol: str,
        granularity_s: int,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 350,
    ) -> list[Candle]:
        return await self.feed.get_candles(symbol, granularity_s, start, end, limit)

    # ----------------------------------------------------------------------------------- orders
    # place_order, cancel_orders, edit_order, get_order, get_order_by_client_id, list_orders, list_fills,
    # list_balances: SimulatedExecution over the local engine
    def matching_engine(self) -> MatchingEngine:
        return self._eng()

    def submit_order(self, request: OrderRequest) -> Order:
        """Only universe symbols; a missing client_order_id gets one; the request is validated."""
        if request.symbol not in self.products:
            raise NotFoundError(
                f"{request.symbol!r} is not in the paper universe {self.symbols}", reason="INVALID_PRODUCT_ID"
            )
        if not request.client_order_id:
            request = msgspec.structs.replace(request, client_order_id=uuid.uuid4().hex)
        request.validate()
        return super().submit_order(request)

    async def list_positions(self) -> list[Position]:
        return [p for p in await super().list_positions() if p.size != 0]

    # ---------------------------------------------------------------------------------- streams
    def stream_market_data(self, symbols: Sequence[str]) -> AsyncIterator[MarketEvent]:
        return self.feed.stream_market_data(symbols)

    async def stream_user_events(self) -> AsyncIterator[OrderUpdate]:
        q: asyncio.Queue[OrderUpdate] = asyncio.Queue()
        self._user_queues.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._user_queues.remove(q)

    def describe(self) -> dict[str, Any]:
        return {"feed": self.feed.name, "symbols": self.symbols, "book_pushes": self.book_pushes}
