"""Hypothesis strategies for hostile exchange input: JSON values of the wrong type, numbers that are
huge, negative, NaN or Infinity (as strings and bare), truncated and re-ordered frames, unknown channels.
A uniquely named module shared by the fuzz tests."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

BAD_NUMBERS = ["NaN", "nan", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "1e999999", "-1", "-0", "0",
               "1E+400", "0x10", "1_000", " 1 ", "", "abc", "9" * 80, "1e-400", "٣"]  # fmt: skip
GOOD_NUMBERS = ["0.01", "100", "27123.45", "1e-8", "50000.00000001"]
SYMBOLS = ["BTC-USD", "ETH-USD", "", "btc-usd", "UNKNOWN-USD", "BTC-USD\x00"]
CHANNELS = ["l2_data", "ticker", "ticker_batch", "market_trades", "candles", "status", "heartbeats",
            "subscriptions", "user", "futures_balance_summary", "", "L2_DATA", "unknown_channel"]  # fmt: skip
TIMES = ["2026-01-01T14:00:00Z", "2026-01-01T14:00:00.123456789Z", "", "yesterday", "0001-01-01T00:00:00Z",
         "1767276000", "-1", "2026-13-45T99:99:99Z", "9" * 30]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(BAD_NUMBERS + GOOD_NUMBERS + SYMBOLS + TIMES),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
numbers = st.one_of(st.sampled_from(BAD_NUMBERS + GOOD_NUMBERS), json_values)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually the value, sometimes any JSON value in its place (the wrong type)."""
    return st.one_of(value, value, value, json_values)


l2_update = st.fixed_dictionaries(
    {"side": _maybe(st.sampled_from(["bid", "offer", "ask", "BUY", ""])), "price_level": _maybe(numbers),
     "new_quantity": _maybe(numbers)},
    optional={"event_time": _maybe(st.sampled_from(TIMES))},
)  # fmt: skip
l2_event = st.fixed_dictionaries(
    {"type": _maybe(st.sampled_from(["snapshot", "update"])), "product_id": _maybe(st.sampled_from(SYMBOLS)),
     "updates": _maybe(st.lists(l2_update, max_size=4))}
)  # fmt: skip
ticker = st.fixed_dictionaries(
    {"product_id": _maybe(st.sampled_from(SYMBOLS)), "price": _maybe(numbers), "best_bid": _maybe(numbers),
     "best_ask": _maybe(numbers)},
    optional={"type": st.just("ticker"), "volume_24_h": numbers},
)  # fmt: skip
trade = st.fixed_dictionaries(
    {"trade_id": _maybe(st.text(max_size=6)), "product_id": _maybe(st.sampled_from(SYMBOLS)),
     "price": _maybe(numbers), "size": _maybe(numbers), "side": _maybe(st.sampled_from(["BUY", "SELL", "", "x"])),
     "time": _maybe(st.sampled_from(TIMES))}
)  # fmt: skip
candle = st.fixed_dictionaries(
    {"start": _maybe(st.sampled_from(TIMES)), "low": numbers, "high": numbers, "open": numbers, "close": numbers,
     "volume": numbers, "product_id": _maybe(st.sampled_from(SYMBOLS))}
)  # fmt: skip
user_order = st.fixed_dictionaries(
    {"order_id": _maybe(st.text(min_size=1, max_size=6)), "client_order_id": _maybe(st.text(max_size=6)),
     "product_id": _maybe(st.sampled_from(SYMBOLS)), "order_side": _maybe(st.sampled_from(["BUY", "SELL", "?"])),
     "order_type": _maybe(st.sampled_from(["LIMIT", "MARKET", "STOP_LIMIT", "?"])),
     "status": _maybe(st.sampled_from(["OPEN", "FILLED", "CANCELLED", "PENDING", "FAILED", "?"])),
     "cumulative_quantity": numbers, "leaves_quantity": numbers, "avg_price": numbers, "total_fees": numbers,
     "limit_price": numbers, "creation_time": _maybe(st.sampled_from(TIMES)),
     "filled_value": numbers, "number_of_fills": _maybe(numbers)},
)  # fmt: skip


def events_for(channel: str) -> st.SearchStrategy[Any]:
    per_channel: dict[str, st.SearchStrategy[Any]] = {
        "l2_data": l2_event,
        "ticker": st.fixed_dictionaries({"type": st.just("update"), "tickers": st.lists(ticker, max_size=3)}),
        "market_trades": st.fixed_dictionaries({"type": st.just("update"), "trades": st.lists(trade, max_size=3)}),
        "candles": st.fixed_dictionaries({"type": st.just("update"), "candles": st.lists(candle, max_size=2)}),
        "user": st.fixed_dictionaries(
            {"type": st.sampled_from(["snapshot", "update"]), "orders": st.lists(user_order, max_size=3)}
        ),
    }
    return _maybe(per_channel.get(channel, json_values))


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """One frame as raw bytes: mostly well-shaped, with hostile values, sometimes truncated or not JSON."""
    channel = draw(_maybe(st.sampled_from(CHANNELS)))
    key = channel if isinstance(channel, str) else ""
    frame: dict[str, Any] = {
        "channel": channel,
        "timestamp": draw(_maybe(st.sampled_from(TIMES))),
        "sequence_num": draw(_maybe(st.integers(min_value=-5, max_value=2**63))),
        "events": draw(_maybe(st.lists(events_for(key), max_size=3))),
    }
    if draw(st.integers(0, 9)) == 0:
        frame["type"] = "error"
        frame["message"] = draw(json_values)
    raw = json.dumps(frame).encode()
    cut = draw(st.integers(0, 12))
    if cut == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]  # truncated
    elif cut == 1:
        raw = draw(st.binary(max_size=64))  # not JSON at all
    return raw
