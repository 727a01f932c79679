"""Coverage-guided fuzzing (atheris, libFuzzer) of the WebSocket frame parser: `make fuzz-atheris`.

Why besides the hypothesis suite (tests/fuzz/test_fuzz_ws_frames.py): hypothesis builds frames from a
grammar of what we expect; atheris mutates raw bytes guided by the branches the parser takes, so it finds
the shapes nobody wrote a strategy for. Each input is split on newlines into up to 8 frames, fed to a
market stream and a user stream (`handle_raw`), which must never raise; whatever they build must hold
only finite, positive prices and sizes (a NaN or negative price never reaches a decision or an order).
Not collected by pytest and not run in CI (atheris is the optional `fuzz` extra); a crash leaves its
input as `crash-*` in the working directory to replay with `python tests/fuzz/atheris_ws_frames.py FILE`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

atheris: Any = importlib.import_module("atheris")  # optional extra `fuzz`; untyped

with atheris.instrument_imports():
    from gpt_trader.features.brokerages.coinbase.auth import HmacSigner
    from gpt_trader.features.brokerages.coinbase.ws import MarketDataStream, UserStream

PRODUCTS = ["BTC-USD", "ETH-USD"]
MAX_FRAMES = 8
logging.disable(logging.CRITICAL)  # every malformed frame logs a warning: millions of lines otherwise
_loop = asyncio.new_event_loop()
_signer = HmacSigner("atheris-key", "c2VjcmV0")

SEEDS = [
    b'{"channel":"l2_data","timestamp":"2024-05-01T12:00:00Z","sequence_num":0,"events":[{"type":"snapshot",'
    b'"product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2024-05-01T12:00:00Z","price_level":"100",'
    b'"new_quantity":"1"},{"side":"offer","event_time":"2024-05-01T12:00:00Z","price_level":"101",'
    b'"new_quantity":"2"}]}]}',
    b'{"channel":"ticker","timestamp":"2024-05-01T12:00:01Z","sequence_num":1,"events":[{"type":"update",'
    b'"tickers":[{"product_id":"ETH-USD","price":"3000.5","best_bid":"3000","best_ask":"3001"}]}]}',
    b'{"channel":"market_trades","timestamp":"2024-05-01T12:00:02Z","sequence_num":2,"events":[{"type":"update",'
    b'"trades":[{"trade_id":"7","product_id":"BTC-USD","price":"100.5","size":"0.1","side":"BUY",'
    b'"time":"2024-05-01T12:00:02Z"}]}]}',
    b'{"channel":"user","timestamp":"2024-05-01T12:00:03Z","sequence_num":3,"events":[{"type":"update",'
    b'"orders":[{"order_id":"o1","client_order_id":"c1","product_id":"BTC-USD","order_side":"BUY",'
    b'"order_type":"LIMIT","status":"OPEN","time_in_force":"GOOD_UNTIL_CANCELLED","avg_price":"100",'
    b'"cumulative_quantity":"1","leaves_quantity":"1","filled_value":"100","total_fees":"0.1",'
    b'"limit_price":"100","post_only":"false"}]}]}',
]


def _sane(value: object) -> bool:
    return not isinstance(value, Decimal) or (value.is_finite() and value > 0)


def _check_market(stream: MarketDataStream) -> None:
    for symbol in PRODUCTS:
        book = stream.book(symbol, depth=None)
        if book is not None:
            for level in (*book.bids, *book.asks):
                assert _sane(level.price) and _sane(level.size), level
        quote = stream.quote(symbol)
        if quote is not None:
            assert _sane(quote.bid) and _sane(quote.ask) and _sane(quote.last), quote
    while not stream.events.empty():
        event = stream.events.get_nowait()
        for name in ("price", "bid", "ask", "last", "open", "high", "low", "close"):
            assert _sane(getattr(event, name, None)), (name, event)


def _check_user(stream: UserStream) -> None:
    while not stream.events.q.empty():
        update = stream.events.q.get_nowait()
        for fill in update.fills:
            assert _sane(fill.price) and _sane(fill.size) and fill.fee.is_finite() and fill.fee >= 0, fill


async def _feed(raws: list[bytes]) -> None:
    market = MarketDataStream("ws://127.0.0.1:9/unused", PRODUCTS)
    user = UserStream("ws://127.0.0.1:9/unused", _signer)
    for raw in raws:
        await market.conn.handle_raw(raw)  # must not raise: a bad frame is counted and skipped
        await user.conn.handle_raw(raw)
    _check_market(market)
    _check_user(user)


def test_one_input(data: bytes) -> None:
    _loop.run_until_complete(_feed(data.split(b"\n")[:MAX_FRAMES]))


def write_seeds(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(SEEDS):
        (directory / f"seed-{i}").write_bytes(seed)
    (directory / "seed-all").write_bytes(b"\n".join(SEEDS))


def main() -> None:
    args = sys.argv[1:]
    corpus = [a for a in args if not a.startswith("-")]
    for directory in corpus:
        if not Path(directory).is_file():
            write_seeds(Path(directory))
    atheris.Setup([sys.argv[0], *args], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
