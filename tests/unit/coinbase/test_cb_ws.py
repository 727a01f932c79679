import random
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest

from gpt_trader.features.brokerages.coinbase import models as m
from gpt_trader.features.brokerages.coinbase.parsing import user_order_to_order
from gpt_trader.features.brokerages.coinbase.ws import (
    BACKOFF_MAX_S,
    BACKOFF_MIN_S,
    FillDeriver,
    MarketDataStream,
    UserStream,
    backoff_delay,
)
from gpt_trader.features.brokerages.core.interfaces import (
    BookUpdate,
    Liquidity,
    OrderSide,
    OrderStatus,
    Quote,
    TradeTick,
)

D = Decimal
enc = msgspec.json.encode


def frame(channel: str, seq: int, events: list) -> bytes:
    return enc(
        {
            "channel": channel,
            "client_id": "",
            "timestamp": "2024-05-01T12:00:00.123456789Z",
            "sequence_num": seq,
            "events": events,
        }
    )


def l2(kind: str, product: str, updates: list[tuple[str, str, str]]) -> dict:
    return {
        "type": kind,
        "product_id": product,
        "updates": [
            {"side": s, "event_time": "1970-01-01T00:00:00Z", "price_level": p, "new_quantity": q}
            for s, p, q in updates
        ],
    }


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def stream(**kw: object) -> MarketDataStream:
    return MarketDataStream("ws://127.0.0.1:1", ["BTC-USD"], None, **kw)  # type: ignore[arg-type]


async def test_book_from_snapshot_and_updates_and_events() -> None:
    s = stream()
    snap = l2("snapshot", "BTC-USD", [("bid", "100", "1"), ("bid", "99", "2"), ("offer", "101", "3")])
    await s.conn.handle_raw(frame("l2_data", 0, [snap]))
    await s.conn.handle_raw(frame("subscriptions", 1, [{"subscriptions": {"level2": ["BTC-USD"]}}]))
    upd = l2("update", "BTC-USD", [("bid", "100", "0"), ("offer", "101.5", "4"), ("bid", "99", "2.5")])
    await s.conn.handle_raw(frame("l2_data", 2, [upd]))
    book = s.book("BTC-USD")
    assert book is not None
    assert [(lv.price, lv.size) for lv in book.bids] == [(D("99"), D("2.5"))]
    assert [(lv.price, lv.size) for lv in book.asks] == [(D("101"), D("3")), (D("101.5"), D("4"))]
    events = [s.events.q.get_nowait() for _ in range(s.events.q.qsize())]
    assert len(events) == 6 and all(isinstance(e, BookUpdate) for e in events)
    assert events[0].is_snapshot and not events[-1].is_snapshot
    assert events[3].side is OrderSide.BUY and events[3].size == 0
    q = s.quote("BTC-USD")
    assert q is not None and q.bid == D("99") and q.ask == D("101")
    assert s.conn.counters["gaps"] == 0


async def test_updates_before_snapshot_are_not_applied() -> None:
    s = stream()
    await s.conn.handle_raw(frame("l2_data", 0, [l2("update", "BTC-USD", [("bid", "100", "1")])]))
    assert s.book("BTC-USD") is None and s.counters["updates_before_snapshot"] == 1


async def test_sequence_gap_triggers_level2_resubscribe_and_old_frames_dropped() -> None:
    s = stream()
    await s.conn.handle_raw(frame("l2_data", 0, [l2("snapshot", "BTC-USD", [("bid", "100", "1")])]))
    await s.conn.handle_raw(frame("heartbeats", 1, [{"current_time": "x", "heartbeat_counter": 1}]))
    await s.conn.handle_raw(frame("heartbeats", 4, [{"current_time": "x", "heartbeat_counter": 2}]))
    assert s.conn.counters["gaps"] == 1 and s.conn.counters["resubscribes"] == 1
    assert s.book("BTC-USD") is None  # untrusted until the fresh snapshot arrives
    await s.conn.handle_raw(frame("l2_data", 3, [l2("update", "BTC-USD", [("bid", "100", "0")])]))
    assert s.conn.counters["out_of_order"] == 1
    await s.conn.handle_raw(frame("l2_data", 5, [l2("update", "BTC-USD", [("bid", "100", "7")])]))
    assert s.counters["updates_before_snapshot"] == 1 and s.book("BTC-USD") is None
    await s.conn.handle_raw(frame("l2_data", 6, [l2("snapshot", "BTC-USD", [("bid", "101", "2")])]))
    book = s.book("BTC-USD")
    assert book is not None and [(lv.price, lv.size) for lv in book.bids] == [(D("101"), D("2"))]


async def test_malformed_frames_are_counted_and_skipped() -> None:
    s = stream()
    await s.conn.handle_raw(b"{not json")
    await s.conn.handle_raw(frame("l2_data", 0, [{"type": "snapshot", "product_id": "BTC-USD", "updates": 7}]))
    await s.conn.handle_raw(frame("market_trades", 1, [{"type": "update", "trades": [{"trade_id": "1"}]}]))
    await s.conn.handle_raw(enc({"type": "error", "message": "authentication failure"}))
    await s.conn.handle_raw(frame("something_new", 2, [{}]))
    assert s.conn.counters["malformed"] == 3
    assert s.conn.counters["errors"] == 1
    assert s.counters["unknown_channel"] == 1
    # and the stream still works afterwards
    await s.conn.handle_raw(frame("l2_data", 3, [l2("snapshot", "BTC-USD", [("offer", "5", "1")])]))
    book = s.book("BTC-USD")
    assert book is not None and book.best_ask == D("5")


async def test_ticker_trades_and_ticker_batch_with_empty_strings() -> None:
    s = stream()
    tick = {
        "type": "update",
        "tickers": [
            {
                "type": "ticker",
                "product_id": "BTC-USD",
                "price": "100.5",
                "best_bid": "100",
                "best_ask": "101",
            }
        ],
    }
    await s.conn.handle_raw(frame("ticker", 0, [tick]))
    batch = {
        "type": "update",
        "tickers": [{"product_id": "BTC-USD", "price": "", "best_bid": "", "best_ask": ""}],
    }
    await s.conn.handle_raw(frame("ticker_batch", 1, [batch]))
    trade = {
        "type": "update",
        "trades": [
            {
                "trade_id": "7",
                "product_id": "BTC-USD",
                "price": "100.7",
                "size": "0.5",
                "side": "SELL",
                "time": "2024-05-01T12:00:00Z",
            }
        ],
    }
    await s.conn.handle_raw(frame("market_trades", 2, [trade]))
    events = [s.events.q.get_nowait() for _ in range(s.events.q.qsize())]
    assert isinstance(events[0], Quote) and events[0].last == D("100.5")
    assert isinstance(events[1], TradeTick) and events[1].side is OrderSide.SELL and events[1].size == D("0.5")
    assert len(events) == 2
    assert s.conn.counters["malformed"] == 0


async def test_staleness_callback_fires_once_and_recovers() -> None:
    clock = Clock()
    seen: list[tuple[str, float]] = []
    s = stream(stale_after_s=5.0, on_stale=lambda sym, age: seen.append((sym, age)), clock=clock)
    await s.conn.handle_raw(frame("l2_data", 0, [l2("snapshot", "BTC-USD", [("bid", "1", "1")])]))
    clock.t += 6
    assert s.check_staleness(started=100.0) == ["BTC-USD"]
    assert s.check_staleness(started=100.0) == []
    assert seen == [("BTC-USD", 6.0)] and not s.is_fresh("BTC-USD")
    assert s.counters["stale"] == 1 and s.counters["stale_resubscribes"] == 1
    await s.conn.handle_raw(frame("l2_data", 1, [l2("update", "BTC-USD", [("bid", "1", "2")])]))
    assert s.is_fresh("BTC-USD") and s.counters["recovered"] == 1


def test_backoff_bounds_and_growth() -> None:
    rng = random.Random(3)
    for attempt in range(20):
        d = backoff_delay(attempt, rng)
        assert BACKOFF_MIN_S <= d <= min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2**attempt)
    assert max(backoff_delay(30, rng) for _ in range(200)) > 20


def user_order(cum: str, value: str, fees: str, status: str = "OPEN", leaves: str = "0", **kw: str) -> dict:
    base = {
        "order_id": "o1",
        "client_order_id": "c1",
        "product_id": "BTC-USD",
        "order_side": "BUY",
        "order_type": "LIMIT",
        "status": status,
        "time_in_force": "GOOD_UNTIL_CANCELLED",
        "avg_price": "0",
        "cumulative_quantity": cum,
        "leaves_quantity": leaves,
        "filled_value": value,
        "total_fees": fees,
        "limit_price": "100",
        "post_only": "false",
    }
    base.update(kw)
    return base


async def test_user_stream_derives_fills_from_cumulative_deltas_without_duplicates() -> None:
    us = UserStream("ws://127.0.0.1:1", signer=None)  # type: ignore[arg-type]
    seq = iter(range(100))

    async def send(kind: str, orders: list[dict]) -> None:
        await us.conn.handle_raw(frame("user", next(seq), [{"type": kind, "orders": orders}]))

    await send("snapshot", [])
    assert us.snapshot_done.is_set()
    await send("update", [user_order("0", "0", "0", leaves="3")])
    await send("update", [user_order("1", "100", "0.6", leaves="2")])
    await send("update", [user_order("1", "100", "0.6", leaves="2")])  # replayed
    await send("update", [user_order("3", "298", "1.8", status="FILLED")])
    updates = [us.events.q.get_nowait() for _ in range(us.events.q.qsize())]
    fills = [f for u in updates for f in u.fills]
    assert [(f.size, f.price, f.fee) for f in fills] == [(D(1), D(100), D("0.6")), (D(2), D(99), D("1.2"))]
    assert all(f.liquidity is Liquidity.MAKER for f in fills)
    assert len({f.trade_id for f in fills}) == 2
    assert updates[-1].order.status is OrderStatus.FILLED and updates[-1].order.size == D(3)
    assert us.fills.duplicates == 1


def test_fill_deriver_snapshot_after_reconnect_does_not_refill_history() -> None:
    fd = FillDeriver()
    u = msgspec.json.decode(enc(user_order("2", "200", "1", leaves="1")), type=m.WsUserOrder)
    ts = datetime(2024, 1, 1, tzinfo=UTC)
    assert fd.derive(u, user_order_to_order(u), ts, snapshot=True) is None
    u2 = msgspec.json.decode(enc(user_order("3", "305", "1.5", status="FILLED")), type=m.WsUserOrder)
    fill = fd.derive(u2, user_order_to_order(u2), ts, snapshot=False)
    assert fill is not None and fill.size == D(1) and fill.price == D(105) and fill.fee == D("0.5")


def test_fill_deriver_uses_avg_price_when_filled_value_missing_and_rejects_nonsense() -> None:
    from gpt_trader.features.brokerages.coinbase.parsing import ParseError

    fd = FillDeriver()
    ts = datetime(2024, 1, 1, tzinfo=UTC)
    u = msgspec.json.decode(
        enc(user_order("2", "", "0", avg_price="50", order_type="MARKET", status="FILLED")),
        type=m.WsUserOrder,
    )
    fill = fd.derive(u, user_order_to_order(u), ts, snapshot=False)
    assert fill is not None and fill.price == D(50) and fill.liquidity is Liquidity.TAKER
    bad = msgspec.json.decode(enc(user_order("1", "", "0", order_id="o2", avg_price="")), type=m.WsUserOrder)
    with pytest.raises(ParseError):
        fd.derive(bad, user_order_to_order(bad), ts, snapshot=False)


async def test_candles_and_status_frames() -> None:
    s = stream(channels=("level2", "candles", "status"))
    candles = {
        "type": "snapshot",
        "candles": [
            {
                "start": "1688998200",
                "high": "1867.72",
                "low": "1865.63",
                "open": "1867.38",
                "close": "1866.81",
                "volume": "0.20269406",
                "product_id": "BTC-USD",
            }
        ],
    }
    await s.conn.handle_raw(frame("candles", 0, [candles]))
    status = {
        "type": "snapshot",
        "products": [{"id": "BTC-USD", "product_type": "SPOT", "status": "online", "base_increment": "0.00000001"}],
    }
    await s.conn.handle_raw(frame("status", 1, [status]))
    (candle,) = [s.events.q.get_nowait() for _ in range(s.events.q.qsize())]
    assert candle.symbol == "BTC-USD" and candle.close == D("1866.81")
    assert candle.start == datetime.fromtimestamp(1688998200, tz=UTC)
    assert s.status == {"BTC-USD": "online"}
    assert s.conn.subscriptions["status"] == [] and s.conn.subscriptions["heartbeats"] == []
