"""A burst of frames already received does not hold the event loop (issue 11's latency goal): a local
WebSocket server on 127.0.0.1 sends a few hundred frames at once, and a task standing for the bot (it
wants the loop between frames, as the bot does while it sends a bar boundary's orders) gets a turn after
every slice of the burst (`READ_SLICE_S`). Before, the reader worked through every queued frame in one go
(the websockets client's `recv` returns at once while frames are queued, up to 32): ~2.6 ms between two
orders of one boundary were measured going to that."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
import websockets

from gpt_trader.features.brokerages.coinbase.ws import MarketDataStream

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

FRAMES = 300
LEVELS = 40  # per level2 frame: a frame costs ~0.1 ms or more to handle, so a slice holds only a few


def _frame(channel: str, seq: int, events: list[dict[str, object]]) -> str:
    return json.dumps({"channel": channel, "timestamp": "2024-05-01T12:00:00Z", "sequence_num": seq, "events": events})


def ticker(seq: int) -> str:
    tick = {"product_id": "AAA-USD", "price": "100", "best_bid": "99", "best_ask": "101"}
    return _frame("ticker", seq, [{"type": "update", "tickers": [tick]}])


def level2(seq: int, kind: str) -> str:
    updates = [
        {
            "side": "bid" if i % 2 else "offer",
            "event_time": "2024-05-01T12:00:00Z",
            "price_level": str(100 - (i + seq) % 50 if i % 2 else 101 + (i + seq) % 50),
            "new_quantity": str(1 + (i + seq) % 7),
        }
        for i in range(LEVELS)
    ]
    return _frame("l2_data", seq, [{"type": kind, "product_id": "AAA-USD", "updates": updates}])


async def turns_of_the_bot(
    frames: list[str], channel: str, slice_s: float | None
) -> tuple[list[int], MarketDataStream]:
    """Frames handled by the reader at each turn the bot's task got while the burst was read."""

    async def venue(ws: websockets.WebSocketServerProtocol) -> None:
        await ws.recv()  # the subscription
        await asyncio.sleep(0.1)  # the client's reader waits on an empty socket, the bot's task spins
        for f in frames:  # written in one go: they reach the client together and queue there
            await ws.send(f)
        await ws.wait_closed()

    async with websockets.serve(venue, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        stream = MarketDataStream(f"ws://127.0.0.1:{port}", ["AAA-USD"], None, channels=(channel,))
        if slice_s is not None:
            stream.conn.read_slice_s = slice_s
        await stream.start()
        seen: list[int] = []
        try:
            async with asyncio.timeout(10):
                while stream.conn.counters["frames"] < len(frames):
                    seen.append(stream.conn.counters["frames"])
                    await asyncio.sleep(0)  # the bot's turn, then the loop's next round
        finally:
            await stream.stop()
    assert stream.conn.counters["frames"] == len(frames)
    assert stream.conn.counters["malformed"] == 0
    return seen, stream


def most_between_turns(seen: list[int]) -> int:
    return max(b - a for a, b in itertools.pairwise(seen))


async def test_with_no_slice_the_reader_yields_after_every_buffered_frame() -> None:
    seen, _ = await turns_of_the_bot([ticker(i) for i in range(FRAMES)], "ticker", slice_s=0.0)
    most = most_between_turns(seen)
    assert most <= 2, f"frames handled between two turns of the bot: up to {most}"


async def test_a_burst_of_book_frames_is_read_in_slices_not_whole() -> None:
    frames = [level2(0, "snapshot"), *(level2(i, "update") for i in range(1, FRAMES))]
    seen, stream = await turns_of_the_bot(frames, "level2", slice_s=None)
    # before: the reader's whole queue (32 frames) between two turns of the bot; now a slice of ~0.3 ms
    most = most_between_turns(seen)
    assert most <= 12, f"frames handled between two turns of the bot: up to {most} (a slice is a few)"
    book = stream.book("AAA-USD")
    assert book is not None and book.bids and book.asks  # the frames were handled, not skipped
