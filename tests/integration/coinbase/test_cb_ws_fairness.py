"""A burst of frames already received does not hold the event loop (issue 11's latency goal): a local
WebSocket server on 127.0.0.1 sends a few hundred ticker frames at once, and a task standing for the bot
(it wants the loop between frames, as the bot does while it sends a bar boundary's orders) gets a turn
after every frame or two. Before, the reader worked through every buffered frame in one go (the
websockets client's `recv` returns at once while frames are queued): ~2.6 ms between two orders of one
boundary were measured going to that."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
import websockets

from gpt_trader.features.brokerages.coinbase.ws import MarketDataStream

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

FRAMES = 400


def ticker(seq: int) -> str:
    return json.dumps(
        {
            "channel": "ticker",
            "timestamp": "2024-05-01T12:00:00Z",
            "sequence_num": seq,
            "events": [
                {
                    "type": "update",
                    "tickers": [{"product_id": "AAA-USD", "price": "100", "best_bid": "99", "best_ask": "101"}],
                }
            ],
        }
    )


async def test_the_reader_yields_the_loop_between_buffered_frames() -> None:
    async def venue(ws: websockets.WebSocketServerProtocol) -> None:
        await ws.recv()  # the subscription
        frames = [ticker(i) for i in range(FRAMES)]
        await asyncio.sleep(0.1)  # the client's reader waits on an empty socket, the bot's task spins
        for f in frames:  # written in one go: they reach the client together and queue there
            await ws.send(f)
        await ws.wait_closed()

    async with websockets.serve(venue, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        stream = MarketDataStream(f"ws://127.0.0.1:{port}", ["AAA-USD"], None, channels=("ticker",))
        await stream.start()
        seen: list[int] = []
        try:
            async with asyncio.timeout(10):
                while stream.conn.counters["frames"] < FRAMES:
                    seen.append(stream.conn.counters["frames"])
                    await asyncio.sleep(0)  # the bot's turn, then the loop's next round
        finally:
            await stream.stop()
    assert stream.conn.counters["frames"] == FRAMES
    assert stream.conn.counters["malformed"] == 0
    steps = [b - a for a, b in itertools.pairwise(seen)]
    # between two turns of the bot's task the reader handles at most a couple of frames, never the burst
    assert max(steps) <= 2, f"frames handled between two turns of the bot: up to {max(steps)}"
