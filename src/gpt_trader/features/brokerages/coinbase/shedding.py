"""Explicit, counted load shedding for the market stream: a queue that coalesces when its reader lags.

Why: at high market rates (50 symbols of level2 + ticker + trades) the bot's consumer of the WebSocket
reader falls behind; a plain FIFO makes every decision wait behind thousands of stale book and ticker
events, and the old bounded queue dropped the oldest event, trades included. This queue stays a FIFO
while the reader keeps up. Once an event has waited `shed_after_s` in it, or `shed_backlog` events are
pending, it sheds: a new book level update replaces the pending one for the same (symbol, side, price)
(absolute sizes: only the latest matters, so a book rebuilt from the events ends the same) and a new
ticker quote replaces the pending quote of its symbol (a mark is only needed at its latest state). Book
snapshot updates, market trades (they build bars), candles and anything else are never coalesced; the
user channel has its own queue and never sheds. The replaced event is dropped from its place and the
newer one queued at the tail, so order per key is kept. Every coalesced event is counted
(`coalesced.book`, `coalesced.quote`), each episode logged when it starts and stops, and `stats()` says
whether it is shedding now. The L2 book the adapter serves (`MarketDataStream.book`) applies every
update before this queue and is never shed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable
from typing import Any

from gpt_trader.features.brokerages.core.interfaces import BookUpdate, Quote

log = logging.getLogger(__name__)

#: an event that waited this long (wall s) before the consumer took it starts shedding
SHED_AFTER_S = 0.2
#: ... and so does this many pending events
SHED_BACKLOG = 2_000


def coalesce_key(item: object) -> tuple[Hashable, ...] | None:
    """The key under which a newer event replaces a pending one; None: never coalesced."""
    if isinstance(item, BookUpdate):
        if item.is_snapshot:
            return None  # a snapshot resets a rebuilt book: every one of its levels is needed
        return ("book", item.symbol, item.side, item.price)
    if isinstance(item, Quote):
        return ("quote", item.symbol)
    return None


class _Slot:
    __slots__ = ("alive", "at", "item", "key")

    def __init__(self, item: Any, at: float, key: tuple[Hashable, ...] | None) -> None:
        self.item = item
        self.at = at
        self.key = key
        self.alive = True


class SheddingQueue:
    """The market stream's event queue (see the module docstring). `put` never blocks the socket reader;
    `get`/`get_nowait`/`qsize`/`empty` mirror asyncio.Queue for the consumer (`.q` is the queue itself)."""

    def __init__(
        self,
        maxsize: int,
        counters: Counter[str],
        *,
        name: str = "market",
        shed_after_s: float = SHED_AFTER_S,
        shed_backlog: int = SHED_BACKLOG,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maxsize < 1 or shed_backlog < 1 or shed_after_s <= 0:
            raise ValueError(
                f"maxsize ({maxsize}) and shed_backlog ({shed_backlog}) must be >= 1, shed_after_s ({shed_after_s}) > 0"
            )
        self.maxsize = maxsize
        self.counters = counters  # the stream's own (dropped_events when even shedding cannot keep up)
        self.name = name
        self.shed_after_s = shed_after_s
        self.shed_backlog = shed_backlog
        self._clock = clock
        self._slots: deque[_Slot] = deque()
        self._pending: dict[tuple[Hashable, ...], _Slot] = {}
        self._live = 0
        self._ready = asyncio.Event()
        self.shedding = False
        self.shed_counts: Counter[str] = Counter()
        self._episode_coalesced = 0
        self._episode_started = 0.0
        self.max_wait_s = 0.0

    @property
    def q(self) -> SheddingQueue:
        return self

    # ------------------------------------------------------------------------------ producer
    def put(self, item: Any) -> None:
        key = coalesce_key(item)
        if key is not None and self.shedding:
            held = self._pending.get(key)
            if held is not None and held.alive:
                held.alive = False
                self._live -= 1
                self.shed_counts[f"coalesced.{key[0]}"] += 1
                self._episode_coalesced += 1
        if self._live >= self.maxsize:
            self._drop_oldest()
        slot = _Slot(item, self._clock(), key)
        self._slots.append(slot)
        if key is not None:
            self._pending[key] = slot
        self._live += 1
        if not self.shedding and self._live >= self.shed_backlog:
            self._start(f"{self._live} events pending")
        self._ready.set()

    def _drop_oldest(self) -> None:
        while self._slots:
            slot = self._slots.popleft()
            if slot.alive:
                self._forget(slot)
                self.counters["dropped_events"] += 1
                return

    def _forget(self, slot: _Slot) -> None:
        slot.alive = False
        self._live -= 1
        if slot.key is not None and self._pending.get(slot.key) is slot:
            del self._pending[slot.key]

    # ------------------------------------------------------------------------------ consumer
    def qsize(self) -> int:
        return self._live

    def empty(self) -> bool:
        return self._live == 0

    def get_nowait(self) -> Any:
        while self._slots:
            slot = self._slots.popleft()
            if not slot.alive:
                continue
            self._forget(slot)
            waited = self._clock() - slot.at
            self.max_wait_s = max(self.max_wait_s, waited)
            if not self.shedding:
                if waited >= self.shed_after_s:
                    self._start(f"an event waited {waited:.3f} s")
            elif waited < self.shed_after_s / 2 and self._live < self.shed_backlog // 4:
                self._stop(waited)
            if self._live == 0:
                self._ready.clear()
            return slot.item
        self._ready.clear()
        raise asyncio.QueueEmpty

    async def get(self) -> Any:
        while self._live == 0:
            self._ready.clear()
            await self._ready.wait()
        return self.get_nowait()

    # ------------------------------------------------------------------------------ episodes
    def _start(self, why: str) -> None:
        self.shedding = True
        self._episode_coalesced = 0
        self._episode_started = self._clock()
        self.shed_counts["episodes"] += 1
        log.warning("coinbase %s stream: load shedding starts (%s): book/ticker updates coalesced", self.name, why)

    def _stop(self, waited: float) -> None:
        self.shedding = False
        log.warning(
            "coinbase %s stream: load shedding stops after %.1f s (%d events coalesced; last wait %.3f s)",
            self.name,
            self._clock() - self._episode_started,
            self._episode_coalesced,
            waited,
        )

    def stats(self) -> dict[str, float]:
        """Counts since start (coalesced.book, coalesced.quote, episodes), `active` 0/1, `pending`, and
        `max_wait_s` (the longest an event waited, wall seconds)."""
        out: dict[str, float] = {k: float(v) for k, v in self.shed_counts.items()}
        out["active"] = 1.0 if self.shedding else 0.0
        out["pending"] = float(self._live)
        out["max_wait_s"] = self.max_wait_s
        return out
