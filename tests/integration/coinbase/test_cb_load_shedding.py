"""Load shedding under a flood (issue 17): a local WebSocket server on 127.0.0.1 floods the adapter's
market stream (level2 + ticker + market_trades for three products) while a slow consumer takes the
events, and sends user-channel order updates meanwhile. The stream sheds explicitly: book level and
ticker updates coalesce (counted, reported as `stream.shed.*` and in health), yet every trade arrives in
order (the bars are the bars of every trade sent), the adapter's books and a book rebuilt from the events
both equal the venue's final state, the last mark is the last ticker, and every user event is applied."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
import websockets

from gpt_trader.features.brokerages.coinbase.auth import HmacSigner
from gpt_trader.features.brokerages.coinbase.ws import MarketDataStream, UserStream
from gpt_trader.features.brokerages.core.interfaces import BookUpdate, OrderSide, OrderUpdate, Quote, TradeTick
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.bar_builder import BarBuilder, ClosedBar
from gpt_trader.orchestration.stream_shedding import ShedReport

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SYMS = ["AAA-USD", "BBB-USD", "CCC-USD"]
ROUNDS = 3000
TRADE_EVERY = 5
USER_UPDATES = 200
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
D = Decimal


def stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FloodVenue:
    """Sends a deterministic flood and records what the venue's state ends as."""

    def __init__(self) -> None:
        rng = random.Random(11)
        self.frames: list[tuple[str, dict[str, Any]]] = []
        self.book: dict[str, dict[tuple[str, Decimal], Decimal]] = {s: {} for s in SYMS}
        self.trades: list[tuple[str, Decimal, Decimal, datetime]] = []
        self.last_ticker: dict[str, Decimal] = {}
        for s in SYMS:
            levels = [("bid", D(100 - k), D(1)) for k in range(1, 6)] + [
                ("offer", D(100 + k), D(1)) for k in range(1, 6)
            ]
            for side, price, size in levels:
                self.book[s][(side, price)] = size
            self.frames.append(("l2_data", self._l2("snapshot", s, levels, T0)))
        for r in range(ROUNDS):
            s = SYMS[r % len(SYMS)]
            now = T0 + timedelta(seconds=r * 0.5)
            updates = []
            for _ in range(3):
                side = rng.choice(["bid", "offer"])
                price = D(100 - rng.randint(1, 8)) if side == "bid" else D(100 + rng.randint(1, 8))
                size = D(rng.randint(0, 9))
                updates.append((side, price, size))
                if size == 0:
                    self.book[s].pop((side, price), None)
                else:
                    self.book[s][(side, price)] = size
            self.frames.append(("l2_data", self._l2("update", s, updates, now)))
            last = D(100) + D(rng.randint(-50, 50)) / 100
            self.last_ticker[s] = last
            ticker = {"product_id": s, "price": str(last), "best_bid": str(last - 1), "best_ask": str(last + 1)}
            self.frames.append(("ticker", {"ts": now, "events": [{"type": "update", "tickers": [ticker]}]}))
            if r % TRADE_EVERY == 0:
                size = D(rng.randint(1, 5))
                self.trades.append((s, last, size, now))
                trade = {
                    "trade_id": str(r),
                    "product_id": s,
                    "price": str(last),
                    "size": str(size),
                    "side": "BUY",
                    "time": stamp(now),
                }
                self.frames.append(("market_trades", {"ts": now, "events": [{"type": "update", "trades": [trade]}]}))
        self.end = T0 + timedelta(seconds=ROUNDS * 0.5)

    @staticmethod
    def _l2(kind: str, sym: str, updates: list[tuple[str, Decimal, Decimal]], ts: datetime) -> dict[str, Any]:
        rows = [
            {"side": a, "event_time": stamp(ts), "price_level": str(p), "new_quantity": str(q)} for a, p, q in updates
        ]
        return {"ts": ts, "events": [{"type": kind, "product_id": sym, "updates": rows}]}

    async def handler(self, ws: Any) -> None:
        first = msgspec.json.decode(await ws.recv())
        seq = 0

        async def send(channel: str, ts: datetime, events: list[Any]) -> None:
            nonlocal seq
            body = {"channel": channel, "client_id": "", "timestamp": stamp(ts), "sequence_num": seq, "events": events}
            seq += 1
            await ws.send(msgspec.json.encode(body).decode())

        if first.get("channel") == "user":
            await self._user(ws, send)
            return
        while True:  # take the other subscribe messages (ticker, market_trades, heartbeats)
            try:
                msg = msgspec.json.decode(await asyncio.wait_for(ws.recv(), 0.2))
            except TimeoutError:
                break
            if msg.get("channel") == "user":
                await self._user(ws, send)
                return
        for i, (channel, frame) in enumerate(self.frames):
            await send(channel, frame["ts"], frame["events"])
            if i % 50 == 0:
                await asyncio.sleep(0)  # let the user connection interleave
        await send("heartbeats", self.end, [{"current_time": stamp(self.end), "heartbeat_counter": 1}])
        await ws.wait_closed()

    async def _user(self, ws: Any, send: Any) -> None:
        await send("user", T0, [{"type": "snapshot", "orders": []}])
        for k in range(1, USER_UPDATES + 1):
            order = {
                "order_id": "o1",
                "client_order_id": "c1",
                "product_id": "AAA-USD",
                "order_side": "BUY",
                "order_type": "LIMIT",
                "status": "FILLED" if k == USER_UPDATES else "OPEN",
                "time_in_force": "GOOD_UNTIL_CANCELLED",
                "avg_price": "100",
                "cumulative_quantity": str(k),
                "leaves_quantity": str(USER_UPDATES - k),
                "filled_value": str(100 * k),
                "total_fees": str(D("0.1") * k),
                "limit_price": "100",
                "post_only": "false",
            }
            await send("user", T0, [{"type": "update", "orders": [order]}])
            await asyncio.sleep(0)
        await ws.wait_closed()


class StreamShedding:
    """The LoadShedding face of one market stream (what CoinbaseBroker.shed_stats sums over its streams)."""

    def __init__(self, stream: MarketDataStream) -> None:
        self.stream = stream

    def shed_stats(self) -> dict[str, float]:
        return self.stream.events.stats()


@pytest.fixture
async def venue() -> AsyncIterator[tuple[FloodVenue, str]]:
    v = FloodVenue()
    async with websockets.serve(v.handler, "127.0.0.1", 0, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield v, f"ws://127.0.0.1:{port}"


def bars_of(trades: list[tuple[str, Decimal, Decimal, datetime]]) -> dict[str, list[ClosedBar]]:
    builders = {s: BarBuilder(s, 60) for s in SYMS}
    out: dict[str, list[ClosedBar]] = {s: [] for s in SYMS}
    for sym, price, size, ts in trades:
        closed = builders[sym].on_trade(price, size, ts)
        if closed is not None:
            out[sym].append(closed)
    return out


async def test_a_flood_is_shed_by_coalescing_and_nothing_that_matters_is_lost(venue: tuple[FloodVenue, str]) -> None:
    v, url = venue
    signer = HmacSigner("flood-test-key", "flood-test-secret")
    market = MarketDataStream(url, SYMS, signer, idle_timeout_s=5)
    user = UserStream(url, signer, idle_timeout_s=5)
    await market.start()
    await user.start()
    metrics = MetricsRegistry()
    report = ShedReport(StreamShedding(market), metrics)
    got: list[object] = []
    trades_seen = 0
    try:
        while trades_seen < len(v.trades):  # a slow consumer: every event costs it a little time
            event = await asyncio.wait_for(market.events.get(), 10)
            got.append(event)
            trades_seen += isinstance(event, TradeTick)
            await asyncio.sleep(0.0003 if len(got) % 4 else 0.001)
        await asyncio.sleep(0.2)  # the reader has taken the last frames
        while not market.events.empty():
            got.append(market.events.get_nowait())
        updates: list[OrderUpdate] = []
        while len(updates) < USER_UPDATES:
            updates.append(await asyncio.wait_for(user.events.q.get(), 10))
        report.publish()
        health = report.health()
    finally:
        await market.stop()
        await user.stop()

    stats = market.events.stats()
    assert stats["episodes"] >= 1 and stats["coalesced.book"] > 100 and stats["coalesced.quote"] > 100, stats
    assert market.counters["dropped_events"] == 0 and market.conn.counters["gaps"] == 0
    assert metrics.counter("stream.shed.coalesced.book") == stats["coalesced.book"]
    assert metrics.counter("stream.shed.coalesced.quote") == stats["coalesced.quote"]
    assert metrics.counter("stream.shed.episodes") == stats["episodes"]
    assert health is not None and health["coalesced_book"] == stats["coalesced.book"] and health["episodes"] >= 1
    # fewer events reached the consumer than the stream made: the shedding did real work
    made = sum(len(f["events"][0].get("updates", [])) or 1 for _, f in v.frames)
    assert len(got) < made - 200

    # every trade kept, in order: the bars are those of every trade the venue sent
    ticks = [e for e in got if isinstance(e, TradeTick)]
    assert [(t.symbol, t.price, t.size, t.ts) for t in ticks] == v.trades
    assert bars_of([(t.symbol, t.price, t.size, t.ts) for t in ticks]) == bars_of(v.trades)
    assert sum(len(b) for b in bars_of(v.trades).values()) >= 20

    # books: the adapter's and one rebuilt from the (coalesced) events both equal the venue's final state
    rebuilt: dict[str, dict[tuple[str, Decimal], Decimal]] = {s: {} for s in SYMS}
    for e in got:
        if isinstance(e, BookUpdate):
            side = "bid" if e.side is OrderSide.BUY else "offer"
            if e.size == 0:
                rebuilt[e.symbol].pop((side, e.price), None)
            else:
                rebuilt[e.symbol][(side, e.price)] = e.size
    for s in SYMS:
        served = market.book(s, depth=None)
        assert served is not None
        adapter = {("bid", lv.price): lv.size for lv in served.bids} | {
            ("offer", lv.price): lv.size for lv in served.asks
        }
        assert adapter == v.book[s], s
        assert rebuilt[s] == v.book[s], s
        last_quote = [e for e in got if isinstance(e, Quote) and e.symbol == s][-1]
        assert last_quote.last == v.last_ticker[s]

    # the user channel never sheds: every order event arrived, the fills add up to the final fill
    assert len(updates) == USER_UPDATES and user.counters["dropped_events"] == 0
    fills = [f for u in updates for f in u.fills]
    assert sum(f.size for f in fills) == USER_UPDATES and updates[-1].order.status.value == "FILLED"
