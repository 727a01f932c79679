"""Coinbase WebSocket: one resilient connection type, a market-data stream and a user-order stream.

Rules followed (COINBASE.md §3): subscribe right after connecting (the venue drops us after 5 s), one
channel per message, heartbeats always on, a fresh JWT in each (un)subscribe; one `sequence_num`
counter per connection, so a gap anywhere means we may have lost a book update -> resubscribe for a
fresh snapshot. Reconnects use jittered exponential backoff (250 ms -> 30 s) and resubscribe
everything. Malformed frames are logged, counted and skipped; they never end the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import websockets
from sortedcontainers import SortedDict

from gpt_trader.features.brokerages.coinbase import models as m
from gpt_trader.features.brokerages.coinbase.auth import Signer
from gpt_trader.features.brokerages.coinbase.parsing import (
    ParseError,
    dec,
    dec0,
    non_negative,
    parse_time,
    positive,
    to_candle,
    user_order_to_order,
)
from gpt_trader.features.brokerages.coinbase.shedding import SheddingQueue
from gpt_trader.features.brokerages.core.interfaces import (
    ZERO,
    BookLevel,
    BookUpdate,
    Fill,
    Liquidity,
    MarketEvent,
    Order,
    OrderBook,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    TimeInForce,
    TradeTick,
)

log = logging.getLogger(__name__)

DEFAULT_WS_URL = "wss://advanced-trade-ws.coinbase.com"
DEFAULT_WS_USER_URL = "wss://advanced-trade-ws-user.coinbase.com"
BACKOFF_MIN_S = 0.25
BACKOFF_MAX_S = 30.0
L2_SIDES = ("bid", "offer")
#: a trade print stamped later than its own frame by more than this is garbage: a bar built on it would
#: lie in the future and every later print would count as late (the symbol's bars would stop closing)
TRADE_AHEAD_MAX = timedelta(seconds=60)
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # BTC-USD level2 snapshots are large (COINBASE.md §3.1)
PRIVATE_CHANNELS = frozenset({"user", "futures_balance_summary"})

FrameHandler = Callable[[m.WsHeader], Awaitable[None] | None]
StaleCallback = Callable[[str, float], None]
TimeCallback = Callable[[datetime], None]
#: frame timestamps closer together than this (monotonic s) are not re-read for the venue clock
TIME_SAMPLE_S = 0.1


def backoff_delay(attempt: int, rng: random.Random) -> float:
    """Full-range jitter under an exponential ceiling: 250 ms, 500 ms, ... capped at 30 s."""
    ceiling = min(BACKOFF_MAX_S, BACKOFF_MIN_S * (2 ** max(0, attempt)))
    return rng.uniform(BACKOFF_MIN_S, max(BACKOFF_MIN_S, ceiling))


class WsConnection:
    """One socket with its subscriptions. `run()` loops connect -> subscribe -> read until `stop()`."""

    def __init__(
        self,
        url: str,
        name: str,
        signer: Signer | None,
        on_frame: FrameHandler,
        *,
        on_connected: Callable[[], Awaitable[None] | None] | None = None,
        on_open: Callable[[], None] | None = None,
        idle_timeout_s: float = 15.0,
        rng: random.Random | None = None,
        ssl_context: ssl.SSLContext | None = None,
        on_time: TimeCallback | None = None,
    ) -> None:
        self.on_open = on_open
        self.on_time = on_time
        self._time_sampled = float("-inf")
        self.url = url
        self.name = name
        self.signer = signer
        self.subscriptions: dict[str, list[str]] = {"heartbeats": []}
        self.on_frame = on_frame
        self.on_connected = on_connected
        self.idle_timeout_s = idle_timeout_s
        self.rng = rng or random.Random()
        self.ssl_context = ssl_context
        self.counters: Counter[str] = Counter()
        self.last_seq: int | None = None
        self.connected = asyncio.Event()
        self._ws: Any = None
        self._stopping = False
        self._send_lock = asyncio.Lock()
        self._background: set[asyncio.Future[Any]] = set()

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Fire-and-forget with a held reference (so the task is not garbage-collected mid-flight)."""
        fut = asyncio.ensure_future(coro)
        self._background.add(fut)
        fut.add_done_callback(self._background.discard)

    def subscribe_to(self, channel: str, product_ids: Sequence[str] = ()) -> None:
        self.subscriptions[channel] = list(product_ids)

    def _message(self, kind: str, channel: str, product_ids: Sequence[str]) -> bytes:
        msg: dict[str, Any] = {"type": kind, "product_ids": list(product_ids), "channel": channel}
        if self.signer is not None:  # the SDK signs every message, public ones included
            msg.update(self.signer.ws_fields(channel, product_ids))
        elif channel in PRIVATE_CHANNELS:
            raise RuntimeError(f"channel {channel!r} needs credentials; none are configured")
        return msgspec.json.encode(msg)

    async def send_subscribe(self, channel: str, product_ids: Sequence[str], kind: str = "subscribe") -> None:
        ws = self._ws
        if ws is None:
            return
        async with self._send_lock:
            await ws.send(self._message(kind, channel, product_ids).decode())
        self.counters[f"{kind}s"] += 1

    async def resubscribe(self, channel: str) -> None:
        """Unsubscribe then subscribe again: the venue answers with a fresh snapshot (no replay exists)."""
        products = self.subscriptions.get(channel, [])
        self.counters["resubscribes"] += 1
        await self.send_subscribe(channel, products, "unsubscribe")
        await self.send_subscribe(channel, products, "subscribe")

    def stop(self) -> None:
        self._stopping = True
        ws = self._ws
        if ws is not None:
            self.spawn(ws.close())

    async def force_reconnect(self) -> None:
        ws = self._ws
        if ws is not None:
            self.counters["forced_reconnects"] += 1
            await ws.close()

    async def run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                kwargs: dict[str, Any] = {
                    "max_size": MAX_MESSAGE_BYTES,
                    "open_timeout": 10,
                    "ping_interval": 20,
                }
                if self.url.startswith("wss://") and self.ssl_context is not None:
                    kwargs["ssl"] = self.ssl_context
                async with websockets.connect(self.url, **kwargs) as ws:
                    self._ws = ws
                    self.last_seq = None
                    self.counters["connects"] += 1
                    if self.on_open is not None:
                        self.on_open()
                    for channel, products in list(self.subscriptions.items()):
                        await self.send_subscribe(channel, products)
                    self.connected.set()
                    if self.on_connected is not None and self.counters["connects"] > 1:
                        res = self.on_connected()
                        if asyncio.iscoroutine(res):
                            await res
                    await self._read(ws)
                    attempt = 0 if self.counters["frames"] else attempt
            except asyncio.CancelledError:
                raise
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                self.counters["disconnects"] += 1
                log.warning("coinbase ws %s disconnected: %s", self.name, type(exc).__name__)
            finally:
                self._ws = None
                self.connected.clear()
            if self._stopping:
                break
            delay = backoff_delay(attempt, self.rng)
            attempt += 1
            self.counters["reconnects"] += 1
            await asyncio.sleep(delay)

    async def _read(self, ws: Any) -> None:
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout_s):  # not wait_for: on 3.11 a task per frame
                    raw = await ws.recv()
            except TimeoutError:
                self.counters["idle_timeouts"] += 1
                log.warning("coinbase ws %s silent for %.0fs; reconnecting", self.name, self.idle_timeout_s)
                return
            except websockets.ConnectionClosed:
                self.counters["disconnects"] += 1
                return
            await self.handle_raw(raw)
            # `recv` returns at once while frames are queued (up to 32): without a turn of the loop here a
            # burst runs through whole (~2 ms at a bar boundary) while the bot's next order waits behind it
            await asyncio.sleep(0)

    async def handle_raw(self, raw: str | bytes) -> None:
        self.counters["frames"] += 1
        try:
            header = msgspec.json.decode(raw, type=m.WsHeader)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.counters["malformed"] += 1
            log.warning("coinbase ws %s: malformed frame skipped (%s)", self.name, exc)
            return
        if self.on_time is not None and header.timestamp:
            mono = time.monotonic()
            if mono - self._time_sampled >= TIME_SAMPLE_S:
                self._time_sampled = mono
                try:
                    stamp = parse_time(header.timestamp)
                except ParseError:
                    stamp = None
                if stamp is not None:
                    self.on_time(stamp)
        if header.type == "error":
            self.counters["errors"] += 1
            log.error("coinbase ws %s: venue error %r", self.name, header.message)
            return
        if header.sequence_num >= 0:
            last = self.last_seq
            if last is not None and header.sequence_num <= last:
                self.counters["out_of_order"] += 1
                return
            self.last_seq = header.sequence_num
            if last is not None and header.sequence_num > last + 1:
                self.counters["gaps"] += 1
                log.warning("coinbase ws %s: sequence gap %d -> %d", self.name, last, header.sequence_num)
                await self.on_gap()
        try:
            res = self.on_frame(header)
            if asyncio.iscoroutine(res):
                await res
        except (ParseError, msgspec.DecodeError, msgspec.ValidationError, KeyError, ValueError) as exc:
            self.counters["malformed"] += 1
            log.warning("coinbase ws %s: malformed %s frame skipped (%s)", self.name, header.channel, exc)

    async def on_gap(self) -> None:
        """Resubscribe every data channel that has state worth refreshing."""
        if self.on_open is not None:
            self.on_open()  # whatever we built may have missed a message: rebuild from the snapshot
        for channel in list(self.subscriptions):
            if channel in ("level2", "user"):
                await self.resubscribe(channel)


# ------------------------------------------------------------------------------------------ books
class L2Book:
    """A product's level2 book from snapshot + absolute-size updates, kept sorted by price. Why sorted:
    Coinbase's level2 channel carries the whole book (thousands of levels on BTC-USD); the best bid or the
    top 50 levels read off a plain dict cost a scan of all of them (0.3 ms at 5,000 levels) on every quote
    and book the bot reads before an order. Sorted, they cost the levels read."""

    __slots__ = ("asks", "bids", "symbol", "synced", "ts")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: SortedDict = SortedDict()  # ascending: the best bid is the last
        self.asks: SortedDict = SortedDict()  # ascending: the best ask is the first
        self.ts = datetime.fromtimestamp(0, tz=UTC)
        self.synced = False

    def reset(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.synced = False

    def apply(self, side: str, price: Decimal, size: Decimal) -> None:
        book = self.bids if side == "bid" else self.asks
        if size == 0:
            book.pop(price, None)
        else:
            book[price] = size

    def to_order_book(self, depth: int | None = 50) -> OrderBook:
        bid_prices, ask_prices = self.bids.keys(), self.asks.keys()
        if depth is None:
            bids, asks = list(reversed(bid_prices)), list(ask_prices)
        else:
            bids = bid_prices[max(0, len(bid_prices) - depth) :][::-1]
            asks = ask_prices[:depth]
        return OrderBook(
            symbol=self.symbol,
            bids=tuple(BookLevel(p, self.bids[p]) for p in bids),
            asks=tuple(BookLevel(p, self.asks[p]) for p in asks),
            ts=self.ts,
        )

    def best(self) -> tuple[Decimal | None, Decimal | None]:
        bids, asks = self.bids.keys(), self.asks.keys()
        return (bids[-1] if bids else None, asks[0] if asks else None)


_L2_EVENTS = msgspec.json.Decoder(list[m.L2Event])
_TICKER_EVENTS = msgspec.json.Decoder(list[m.TickerEvent])
_TRADE_EVENTS = msgspec.json.Decoder(list[m.MarketTradesEvent])
_CANDLE_EVENTS = msgspec.json.Decoder(list[m.CandlesEvent])
_STATUS_EVENTS = msgspec.json.Decoder(list[m.StatusEvent])
_USER_EVENTS = msgspec.json.Decoder(list[m.UserEvent])


class _EventQueue:
    """Bounded queue that drops the oldest event (counted) rather than block the socket reader."""

    def __init__(self, maxsize: int, counters: Counter[str]) -> None:
        self.q: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self.counters = counters

    def put(self, item: Any) -> None:
        if self.q.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.q.get_nowait()
            self.counters["dropped_events"] += 1
        self.q.put_nowait(item)


class MarketDataStream:
    """level2 + ticker + market_trades (+ candles, status) for a set of products, with staleness checks."""

    def __init__(
        self,
        url: str,
        product_ids: Sequence[str],
        signer: Signer | None = None,
        *,
        channels: Sequence[str] = ("level2", "ticker", "market_trades"),
        stale_after_s: float = 30.0,
        on_stale: StaleCallback | None = None,
        emit_events: bool = True,
        queue_size: int = 100_000,
        idle_timeout_s: float = 15.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        ssl_context: ssl.SSLContext | None = None,
        on_time: TimeCallback | None = None,
    ) -> None:
        self.product_ids = list(dict.fromkeys(product_ids))
        self.books: dict[str, L2Book] = {p: L2Book(p) for p in self.product_ids}
        self.last_trade: dict[str, Decimal] = {}
        self.tickers: dict[str, Quote] = {}
        self.status: dict[str, str] = {}
        self.last_data_at: dict[str, float] = {}
        self.stale_after_s = stale_after_s
        self.on_stale = on_stale
        self.emit_events = emit_events
        self.clock = clock
        self.counters: Counter[str] = Counter()
        #: coalesces book/ticker updates while the consumer lags (shedding.py); trades are never shed
        self.events = SheddingQueue(queue_size, self.counters, name="market")
        self._stale: set[str] = set()
        self.conn = WsConnection(
            url,
            "market",
            signer,
            self._on_frame,
            on_open=self._unsync_books,
            idle_timeout_s=idle_timeout_s,
            rng=rng,
            ssl_context=ssl_context,
            on_time=on_time,
        )
        for ch in channels:
            self.conn.subscribe_to(ch, [] if ch == "status" else self.product_ids)
        self._tasks: list[asyncio.Task[None]] = []

    def _unsync_books(self) -> None:
        """(Re)connected or gapped: books are untrusted until their next snapshot (REST serves meanwhile)."""
        for book in self.books.values():
            book.synced = False

    # --------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self.conn.run()), asyncio.create_task(self._watchdog())]

    async def stop(self) -> None:
        self.conn.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []

    async def wait_synced(self, timeout: float = 10.0) -> None:
        """Until every product's book has had its snapshot."""
        deadline = self.clock() + timeout
        while not all(b.synced for b in self.books.values()):
            if self.clock() > deadline:
                missing = [p for p, b in self.books.items() if not b.synced]
                raise TimeoutError(f"level2 snapshot not received for {missing} within {timeout}s")
            await asyncio.sleep(0.01)

    def book(self, symbol: str, depth: int | None = 50) -> OrderBook | None:
        b = self.books.get(symbol)
        if b is None or not b.synced:
            return None
        return b.to_order_book(depth)

    def quote(self, symbol: str) -> Quote | None:
        b = self.books.get(symbol)
        if b is None or not b.synced:
            return self.tickers.get(symbol)
        bid, ask = b.best()
        if bid is None or ask is None:
            return self.tickers.get(symbol)
        last = self.last_trade.get(symbol, (bid + ask) / 2)
        return Quote(symbol=symbol, bid=bid, ask=ask, last=last, ts=b.ts)

    def age_s(self, symbol: str) -> float | None:
        at = self.last_data_at.get(symbol)
        return None if at is None else self.clock() - at

    def is_fresh(self, symbol: str) -> bool:
        age = self.age_s(symbol)
        return age is not None and age <= self.stale_after_s and symbol not in self._stale

    # ---------------------------------------------------------------------------------- staleness
    async def _watchdog(self) -> None:
        interval = max(0.05, min(1.0, self.stale_after_s / 4))
        started = self.clock()
        while True:
            await asyncio.sleep(interval)
            self.check_staleness(started)

    def check_staleness(self, started: float) -> list[str]:
        now = self.clock()
        newly: list[str] = []
        for sym in self.product_ids:
            age = now - self.last_data_at.get(sym, started)
            if age > self.stale_after_s and sym not in self._stale:
                self._stale.add(sym)
                newly.append(sym)
                self.counters["stale"] += 1
                log.warning("coinbase market data for %s stale for %.1fs", sym, age)
                if self.on_stale is not None:
                    self.on_stale(sym, age)
        if newly and "level2" in self.conn.subscriptions:
            self.counters["stale_resubscribes"] += 1
            self.conn.spawn(self.conn.resubscribe("level2"))
        return newly

    def _touch(self, symbol: str) -> None:
        self.last_data_at[symbol] = self.clock()
        if symbol in self._stale:
            self._stale.discard(symbol)
            self.counters["recovered"] += 1

    # ------------------------------------------------------------------------------------ frames
    def _emit(self, event: MarketEvent) -> None:
        if self.emit_events:
            self.events.put(event)

    def _on_frame(self, h: m.WsHeader) -> None:
        ch = h.channel
        if ch == "l2_data":
            self._on_l2(h)
        elif ch == "ticker" or ch == "ticker_batch":
            self._on_ticker(h)
        elif ch == "market_trades":
            self._on_trades(h)
        elif ch == "candles":
            for ce in _CANDLE_EVENTS.decode(h.events):
                for c in ce.candles:
                    candle = to_candle(c)
                    self._touch(candle.symbol)
                    self._emit(candle)
        elif ch == "status":
            for se in _STATUS_EVENTS.decode(h.events):
                for p in se.products:
                    self.status[p.id] = p.status
        elif ch in ("heartbeats", "subscriptions", ""):
            return
        else:
            self.counters["unknown_channel"] += 1  # the docs say: ignore what you do not know

    def _on_l2(self, h: m.WsHeader) -> None:
        ts = parse_time(h.timestamp) or datetime.now(UTC)
        for ev in _L2_EVENTS.decode(h.events):
            book = self.books.get(ev.product_id)
            if book is None:
                continue
            for u in ev.updates:  # all checked before any is applied: a bad level never half-updates a book
                if u.side not in L2_SIDES:
                    raise ParseError(f"level2 side {u.side!r}; allowed: {', '.join(L2_SIDES)}")
                positive(u.price_level, "level2 price_level")
                non_negative(u.new_quantity, "level2 new_quantity")
            snapshot = ev.type == "snapshot"
            if snapshot:
                book.reset()
            elif not book.synced:
                self.counters["updates_before_snapshot"] += 1
                continue
            emit = self.emit_events
            for u in ev.updates:
                book.apply(u.side, u.price_level, u.new_quantity)
                if emit:
                    side = OrderSide.BUY if u.side == "bid" else OrderSide.SELL
                    self.events.put(
                        BookUpdate(
                            symbol=ev.product_id,
                            side=side,
                            price=u.price_level,
                            size=u.new_quantity,
                            ts=ts,
                            is_snapshot=snapshot,
                        )
                    )
            self.counters["l2_updates"] += len(ev.updates)
            book.synced = True
            book.ts = ts
            self._touch(ev.product_id)

    def _on_ticker(self, h: m.WsHeader) -> None:
        ts = parse_time(h.timestamp) or datetime.now(UTC)
        for te in _TICKER_EVENTS.decode(h.events):
            for t in te.tickers:
                price = dec(t.price)
                bid, ask = dec(t.best_bid), dec(t.best_ask)
                for name, value in (("price", price), ("best_bid", bid), ("best_ask", ask)):
                    if value is not None and value <= 0:
                        raise ParseError(f"ticker {name} must be positive, got {value}")
                if price is not None:
                    self.last_trade[t.product_id] = price
                if price is None or bid is None or ask is None:
                    continue  # ticker_batch may omit bid/ask or send ""
                q = Quote(symbol=t.product_id, bid=bid, ask=ask, last=price, ts=ts)
                self.tickers[t.product_id] = q
                self._touch(t.product_id)
                self._emit(q)

    def _on_trades(self, h: m.WsHeader) -> None:
        sent = parse_time(h.timestamp)
        for te in _TRADE_EVENTS.decode(h.events):
            for t in te.trades:
                price, size = positive(t.price, "trade price"), positive(t.size, "trade size")
                ts = parse_time(t.time)
                if ts is None:
                    raise ParseError(f"market trade {t.trade_id!r} lacks its time")
                if sent is not None and ts > sent + TRADE_AHEAD_MAX:  # one such print would wedge the bars
                    raise ParseError(f"market trade {t.trade_id!r} stamped {ts} is after its frame ({sent})")
                self.last_trade[t.product_id] = price
                self._touch(t.product_id)
                side = OrderSide.BUY if t.side.upper() == "BUY" else OrderSide.SELL
                self._emit(
                    TradeTick(symbol=t.product_id, trade_id=t.trade_id, price=price, size=size, side=side, ts=ts)
                )


# ------------------------------------------------------------------------------------------- user
class _OrderProgress:
    __slots__ = ("fees", "qty", "rested", "value")

    def __init__(self, qty: Decimal = ZERO, value: Decimal = ZERO, fees: Decimal = ZERO) -> None:
        self.qty = qty
        self.value = value
        self.fees = fees
        self.rested = False


class FillDeriver:
    """The user channel carries cumulative totals only: per-fill size/price/fee are the deltas.

    A (order_id, cumulative_quantity) pair yields at most one fill, so replays and snapshots after a
    reconnect never duplicate. Liquidity is inferred [?]: orders seen resting before filling are MAKER.
    """

    def __init__(self, max_orders: int = 20_000) -> None:
        self._orders: OrderedDict[str, _OrderProgress] = OrderedDict()
        self.max_orders = max_orders
        self.duplicates = 0

    def seed(self, order_id: str, qty: Decimal, value: Decimal, fees: Decimal) -> None:
        """What REST says is already filled: never re-emitted as a fill."""
        self._orders[order_id] = _OrderProgress(qty, value, fees)
        self._trim()

    def known(self, order_id: str) -> bool:
        return order_id in self._orders

    def _trim(self) -> None:
        while len(self._orders) > self.max_orders:
            self._orders.popitem(last=False)

    def derive(self, u: m.WsUserOrder, order: Order, ts: datetime, *, snapshot: bool) -> Fill | None:
        prog = self._orders.get(u.order_id)
        qty = dec0(u.cumulative_quantity)
        value = dec0(u.filled_value)
        fees = dec0(u.total_fees)
        if prog is None:
            prog = _OrderProgress()
            self._orders[u.order_id] = prog
            self._trim()
            if snapshot and qty > 0:  # first sight after (re)connect: history came from REST, not us
                prog.qty, prog.value, prog.fees = qty, value, fees
                prog.rested = True
                return None
        d_qty = qty - prog.qty
        if d_qty <= 0:
            if d_qty == 0 and qty > 0:
                self.duplicates += 1
            if order.status is OrderStatus.OPEN and qty == 0:
                prog.rested = True
            return None
        if value <= 0:
            avg = dec(u.avg_price)
            if avg is None:
                raise ParseError(f"user order {u.order_id}: fill without filled_value or avg_price")
            value = avg * qty
        price = (value - prog.value) / d_qty
        if price <= 0:
            raise ParseError(f"user order {u.order_id}: non-positive derived fill price {price}")
        fee = max(ZERO, fees - prog.fees)
        taker_type = order.order_type is OrderType.MARKET or order.time_in_force in (
            TimeInForce.IOC,
            TimeInForce.FOK,
        )
        liquidity = Liquidity.MAKER if prog.rested and not taker_type else Liquidity.TAKER
        prog.qty, prog.value, prog.fees = qty, value, max(fees, prog.fees)
        prog.rested = True
        return Fill(
            trade_id=f"{u.order_id}:{qty.normalize()}",
            order_id=u.order_id,
            symbol=u.product_id,
            side=order.side,
            price=price,
            size=d_qty,
            fee=fee,
            liquidity=liquidity,
            ts=ts,
            client_order_id=u.client_order_id,
        )


class UserStream:
    """The `user` channel turned into `OrderUpdate`s with derived, de-duplicated fills."""

    def __init__(
        self,
        url: str,
        signer: Signer,
        *,
        product_ids: Sequence[str] = (),
        on_reconnect: Callable[[], Awaitable[None] | None] | None = None,
        queue_size: int = 100_000,
        idle_timeout_s: float = 15.0,
        rng: random.Random | None = None,
        ssl_context: ssl.SSLContext | None = None,
        on_time: TimeCallback | None = None,
    ) -> None:
        self.counters: Counter[str] = Counter()
        self.events = _EventQueue(queue_size, self.counters)
        self.fills = FillDeriver()
        self.snapshot_done = asyncio.Event()
        self.conn = WsConnection(
            url,
            "user",
            signer,
            self._on_frame,
            on_connected=on_reconnect,
            idle_timeout_s=idle_timeout_s,
            rng=rng,
            ssl_context=ssl_context,
            on_time=on_time,
        )
        self.conn.subscribe_to("user", product_ids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.conn.run())

    async def stop(self) -> None:
        self.conn.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def _on_frame(self, h: m.WsHeader) -> None:
        if h.channel != "user":
            return
        ts = parse_time(h.timestamp) or datetime.now(UTC)
        for ev in _USER_EVENTS.decode(h.events):
            snapshot = ev.type == "snapshot"
            for u in ev.orders:
                try:
                    order = user_order_to_order(u)
                    fill = self.fills.derive(u, order, ts, snapshot=snapshot)
                except ParseError as exc:
                    self.counters["malformed"] += 1
                    log.warning("coinbase user order %s skipped: %s", u.order_id, exc)
                    continue
                if fill is not None:
                    self.counters["fills"] += 1
                self.events.put(OrderUpdate(order=order, fills=(fill,) if fill else (), ts=ts))
            if snapshot and len(ev.orders) < 50:
                self.snapshot_done.set()
