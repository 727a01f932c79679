"""Fuzzed WebSocket frames into the adapter's parsing (issue 17): whatever arrives, `handle_raw` ends in a
counted skip or a state update, never an exception; the book, quotes and fills built from it hold only
finite, positive prices (a NaN or negative price never reaches a decision or an order)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from frames import frames
from hypothesis import given
from hypothesis import strategies as st

from gpt_trader.features.brokerages.coinbase.auth import HmacSigner
from gpt_trader.features.brokerages.coinbase.ws import MarketDataStream, UserStream

PRODUCTS = ["BTC-USD", "ETH-USD"]


def _sane_price(value: Decimal | None) -> bool:
    return value is None or (value.is_finite() and value > 0)


def _run(coro_fn: object) -> None:
    asyncio.run(coro_fn())  # type: ignore[operator]


@given(st.lists(frames(), min_size=1, max_size=12))
def test_market_stream_survives_any_frames(raws: list[bytes]) -> None:
    async def go() -> None:
        stream = MarketDataStream("ws://127.0.0.1:9/unused", PRODUCTS, channels=("level2", "ticker", "market_trades"))
        for raw in raws:
            await stream.conn.handle_raw(raw)  # must not raise
        for symbol in PRODUCTS:
            book = stream.book(symbol)
            quote = stream.quote(symbol)
            if book is not None:
                for level in (*book.bids, *book.asks):
                    assert _sane_price(level.price) and level.size.is_finite() and level.size > 0, level
            if quote is not None:
                assert _sane_price(quote.bid) and _sane_price(quote.ask) and _sane_price(quote.last), quote
        for price in stream.last_trade.values():
            assert _sane_price(price)
        while not stream.events.q.empty():
            event = stream.events.q.get_nowait()
            for name in ("price", "bid", "ask", "last", "open", "high", "low", "close"):
                value = getattr(event, name, None)
                if isinstance(value, Decimal):
                    assert _sane_price(value), (name, event)

    _run(go)


@given(st.lists(frames(), min_size=1, max_size=12))
def test_user_stream_survives_any_frames(raws: list[bytes]) -> None:
    async def go() -> None:
        stream = UserStream("ws://127.0.0.1:9/unused", HmacSigner("k", "c2VjcmV0"))
        for raw in raws:
            await stream.conn.handle_raw(raw)
        while not stream.events.q.empty():
            update = stream.events.q.get_nowait()
            order = update.order
            assert order.size.is_finite() and order.size >= 0, order
            assert order.filled_size.is_finite() and order.filled_size >= 0, order
            for fill in update.fills:
                assert _sane_price(fill.price) and fill.size.is_finite() and fill.size > 0, fill
                assert fill.fee.is_finite(), fill

    _run(go)


# Regressions: what the fuzzer found (each was an unhandled exception or a NaN price in the book/quotes).
FOUND = [
    # a unix-seconds timestamp beyond time_t: OverflowError escaped handle_raw and ended the reader task
    b'{"channel": "l2_data", "timestamp": "999999999999999999999999999999", "sequence_num": 0, "events": []}',
    b'{"channel": "candles", "timestamp": "2026-01-01T14:00:00Z", "sequence_num": 0, "events": [{"type": "update",'
    b' "candles": [{"start": "2026-01-01T14:00:00Z", "low": "NaN", "high": "NaN", "open": "NaN", "close": "NaN",'
    b' "volume": "NaN", "product_id": "BTC-USD"}]}]}',
    b'{"channel": "market_trades", "timestamp": "2026-01-01T14:00:00Z", "sequence_num": 0, "events": [{"type":'
    b' "update", "trades": [{"trade_id": "", "product_id": "BTC-USD", "price": "NaN", "size": "1", "side": "BUY",'
    b' "time": "2026-01-01T14:00:00Z"}]}]}',
    b'{"channel": "ticker", "timestamp": "2026-01-01T14:00:00Z", "sequence_num": 0, "events": [{"type": "update",'
    b' "tickers": [{"product_id": "BTC-USD", "price": "Infinity", "best_bid": "-1", "best_ask": "1"}]}]}',
    b'{"channel": "l2_data", "timestamp": "2026-01-01T14:00:00Z", "sequence_num": 0, "events": [{"type": "snapshot",'
    b' "product_id": "BTC-USD", "updates": [{"side": "bid", "price_level": "100", "new_quantity": "1"},'
    b' {"side": "offer", "price_level": "NaN", "new_quantity": "1"}]}]}',
    b'{"channel": "l2_data", "timestamp": "2026-01-01T14:00:00Z", "sequence_num": 0, "events": [{"type": "snapshot",'
    b' "product_id": "BTC-USD", "updates": [{"side": "", "price_level": "100", "new_quantity": "1"}]}]}',
    b'{"channel": "l2_data", "timestamp": "2026-01-01T14:00:00Z", "sequence_num": 0, "events": [{"type": "snapshot",'
    b' "product_id": "BTC-USD", "updates": [{"side": "bid", "price_level": "-5", "new_quantity": "1"}]}]}',
    # a print stamped years after its frame: the bar builder opened a bar in the future and every later
    # print counted as late, so the symbol's bars stopped closing
    b'{"channel": "market_trades", "timestamp": "2026-01-01T14:00:00Z", "sequence_num": 0, "events": [{"type":'
    b' "update", "trades": [{"trade_id": "t", "product_id": "BTC-USD", "price": "100", "size": "1", "side": "BUY",'
    b' "time": "2036-01-01T14:00:00Z"}]}]}',
]


def test_found_frames_are_counted_skips_with_no_state() -> None:
    async def go() -> None:
        for raw in FOUND:
            stream = MarketDataStream("ws://127.0.0.1:9/unused", PRODUCTS)
            await stream.conn.handle_raw(raw)
            assert stream.conn.counters["malformed"] == 1, raw
            assert stream.book("BTC-USD") is None and stream.quote("BTC-USD") is None, raw
            assert not stream.last_trade and stream.events.q.empty(), raw

    _run(go)
