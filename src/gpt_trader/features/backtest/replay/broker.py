"""BacktestBroker: a `Broker` over historical bars whose fills come from the shared `MatchingEngine`.

Its clock sits on bar-open times. At bar k's open the venue shows one deep level each side: the ask at
the bar's open plus slippage (rounded up to the tick) and the bid at the open minus slippage (rounded
down), so a market order fills exactly as DESIGN §7 prescribes. Only bars that have closed by the
current time are served by `get_candles`: the venue itself rules out look-ahead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from gpt_trader.features.backtest import pricing
from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.config import BacktestConfig, decimal_places
from gpt_trader.features.backtest.result import ns_to_dt
from gpt_trader.features.brokerages.core.interfaces import (
    Balance,
    BookLevel,
    Candle,
    MarketEvent,
    NotFoundError,
    Order,
    OrderBook,
    OrderRequest,
    OrderUpdate,
    Product,
    Quote,
)
from gpt_trader.features.brokerages.core.matching import FeeSchedule, MatchingEngine, SubmitResult
from gpt_trader.features.simulation import SimulatedExecution

ACCOUNT = "backtest"
BOOK_DEPTH = Decimal(10) ** 9


class BacktestBroker(SimulatedExecution):
    name = "backtest"
    account_id = ACCOUNT

    def __init__(self, bars: Bars, config: BacktestConfig, *, seed: int = 0) -> None:
        if len(bars) == 0:
            raise ValueError(f"{bars.symbol}: no bars to replay")
        self.bars = bars
        self.config = config
        self.product: Product = config.product_for(bars.symbol)
        self.price_scale = 10 ** decimal_places(self.product.price_increment, "price_increment")
        self.slip_num, self.slip_den = config.slippage_ratio()
        self.engine = MatchingEngine(
            [self.product],
            fees=FeeSchedule.flat(maker=config.maker_fee_rate, taker=config.fee_rate),
            clock=self.now,
            seed=seed,
            book_events=False,
        )
        self.engine.fund(ACCOUNT, self.product.quote_asset, config.initial_cash)
        self._k = 0
        self._now_k = -1
        self._now = ns_to_dt(int(bars.ts_ns[0]))
        self._book_k = -1
        self._span = timedelta(seconds=bars.granularity_s)

    # ------------------------------------------------------------------ the simulated clock
    def now(self) -> datetime:
        if self._now_k >= 0:
            self._now = ns_to_dt(int(self.bars.ts_ns[self._now_k]))
            self._now_k = -1
        return self._now

    @property
    def bar_index(self) -> int:
        return self._k

    def set_bar(self, k: int) -> None:
        """Move the clock to bar k's open (the book is rebuilt lazily, when something needs it)."""
        if k < self._k:
            raise ValueError(f"the backtest clock cannot go back (bar {k} < {self._k})")
        self._k = k
        self._now_k = k  # `now()` materializes the datetime only when someone asks

    async def advance_time(self, seconds: float) -> None:
        """SimulatedVenue: move the clock; the book follows the last bar opened by then."""
        target = self.now() + timedelta(seconds=seconds)
        ts = self.bars.ts_ns
        k = self._k
        target_ns = int(target.timestamp()) * 1_000_000_000 + target.microsecond * 1000
        while k + 1 < len(ts) and int(ts[k + 1]) <= target_ns:
            k += 1
        self._k = k
        self._now = target
        self._now_k = -1
        self._book_k = -1

    # ------------------------------------------------------------------ prices at the current bar
    def ask_bid(self) -> tuple[Decimal, Decimal]:
        ticks = pricing.open_ticks(float(self.bars.open[self._k]), self.price_scale)
        ask = pricing.buy_ticks(ticks, self.slip_num, self.slip_den)
        bid = pricing.sell_ticks(ticks, self.slip_num, self.slip_den)
        inc = self.product.price_increment
        return Decimal(ask) * inc, Decimal(bid) * inc

    def _sync_book(self) -> None:
        """Bring the engine to the current time and bar: expiries, funding, then this bar's book."""
        if self._book_k == self._k:
            return
        self.engine.advance(self.now())
        ask, bid = self.ask_bid()
        self.engine.set_book(
            self.product.symbol,
            bids=[BookLevel(bid, BOOK_DEPTH)],
            asks=[BookLevel(ask, BOOK_DEPTH)],
            ts=self._now,
        )
        self._book_k = self._k

    def submit(self, request: OrderRequest) -> SubmitResult:
        """Synchronous submit for the replay driver (place_order is the async Broker form)."""
        self._check_symbol(request.symbol)
        self._sync_book()
        return self.engine.submit(ACCOUNT, request)

    def submit_at(self, request: OrderRequest, price_ticks: int) -> SubmitResult:
        """Submit against a book quoted at one price inside the current bar (an intrabar stop or target
        fill, its price already decided in ticks by `pricing.intrabar_exit`)."""
        self._check_symbol(request.symbol)
        self._sync_book()
        price = Decimal(price_ticks) * self.product.price_increment
        self.engine.set_book(
            self.product.symbol, bids=[BookLevel(price, BOOK_DEPTH)], asks=[BookLevel(price, BOOK_DEPTH)], ts=self._now
        )
        self._book_k = -1  # the bar's own book is rebuilt for anything else
        return self.engine.submit(ACCOUNT, request)

    def fill_resting(self, request: OrderRequest) -> SubmitResult:
        """A limit that rests (the book one tick away from it), then the market trades through it: the
        matching engine fills it as MAKER at its own price (a limit entry whose bar crossed it)."""
        self._check_symbol(request.symbol)
        self._sync_book()
        assert request.limit_price is not None
        price, inc, symbol = request.limit_price, self.product.price_increment, self.product.symbol
        self.engine.set_book(
            symbol, bids=[BookLevel(price - inc, BOOK_DEPTH)], asks=[BookLevel(price + inc, BOOK_DEPTH)]
        )
        placed = self.engine.submit(ACCOUNT, request)
        self.engine.set_book(symbol, bids=[BookLevel(price - inc, BOOK_DEPTH)], asks=[BookLevel(price, BOOK_DEPTH)])
        self._book_k = -1
        oid = placed.order.order_id
        return SubmitResult(
            order=self.engine.get_order(ACCOUNT, oid), fills=self.engine.list_fills(ACCOUNT, order_id=oid)
        )

    def balance(self, asset: str) -> Balance:
        return self.engine.balance(ACCOUNT, asset)

    # ------------------------------------------------------------------ Broker protocol
    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def list_products(self) -> list[Product]:
        return [self.product]

    async def get_product(self, symbol: str) -> Product:
        self._check_symbol(symbol)
        return self.product

    async def get_quote(self, symbol: str) -> Quote:
        self._check_symbol(symbol)
        ask, bid = self.ask_bid()
        last = Decimal(repr(float(self.bars.open[self._k])))
        return Quote(symbol=symbol, bid=bid, ask=ask, last=last, ts=self.now())

    async def get_order_book(self, symbol: str, depth: int = 50) -> OrderBook:
        self._check_symbol(symbol)
        self._sync_book()
        return self.engine.book(symbol, depth)

    async def get_candles(
        self,
        symbol: str,
        granularity_s: int,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 350,
    ) -> list[Candle]:
        """Closed bars only (start + granularity <= now), newest `limit`, oldest first."""
        self._check_symbol(symbol)
        if granularity_s != self.bars.granularity_s:
            raise ValueError(
                f"backtest data is {self.bars.granularity_s}s bars; granularity {granularity_s}s was asked"
            )
        b = self.bars
        stop = self._k if b.ts_ns[self._k] + b.granularity_s * 1_000_000_000 > self._ns(self.now()) else self._k + 1
        lo = max(0, stop - limit)
        out = []
        for i in range(lo, stop):
            ts = ns_to_dt(int(b.ts_ns[i]))
            if (start is not None and ts < start) or (end is not None and ts >= end):
                continue
            out.append(
                Candle(
                    start=ts,
                    open=Decimal(repr(float(b.open[i]))),
                    high=Decimal(repr(float(b.high[i]))),
                    low=Decimal(repr(float(b.low[i]))),
                    close=Decimal(repr(float(b.close[i]))),
                    volume=Decimal(repr(float(b.volume[i]))),
                    symbol=symbol,
                )
            )
        return out

    # place_order, cancel_orders, edit_order, get_order, get_order_by_client_id, list_orders, list_fills,
    # list_balances, list_positions: SimulatedExecution over `self.engine`
    def matching_engine(self) -> MatchingEngine:
        return self.engine

    def submit_order(self, request: OrderRequest) -> Order:
        return self.submit(request).order

    def before_call(self, name: str) -> None:
        if name == "edit_order":
            self._sync_book()  # an amend may cross this bar's book

    def stream_market_data(self, symbols: Sequence[str]) -> AsyncIterator[MarketEvent]:
        raise NotImplementedError("BacktestBroker has no streams: the replay polls bars on its simulated clock")

    def stream_user_events(self) -> AsyncIterator[OrderUpdate]:
        raise NotImplementedError("BacktestBroker has no streams: the replay polls bars on its simulated clock")

    # ------------------------------------------------------------------ helpers
    def _check_symbol(self, symbol: str) -> None:
        if symbol != self.product.symbol:
            raise NotFoundError(f"backtest venue trades {self.product.symbol} only, not {symbol!r}")

    @staticmethod
    def _ns(dt: datetime) -> int:
        return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000
