"""Mark freshness per symbol. A mark older than the limit blocks new risk on that symbol (fail closed)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal


class MarketMonitor:
    def __init__(self, stale_after_s: float = 30.0) -> None:
        self.stale_after_s = stale_after_s
        self._marks: dict[str, tuple[Decimal, datetime]] = {}
        self._feed_stale: dict[str, float] = {}  # symbol -> age the feed reported; cleared by a fresh mark

    def update(self, symbol: str, price: Decimal, ts: datetime) -> None:
        """Record a mark; an older timestamp than the one held is ignored (out-of-order message)."""
        held = self._marks.get(symbol)
        if held is None or ts > held[1]:
            self._feed_stale.pop(symbol, None)
        if held is None or ts >= held[1]:
            self._marks[symbol] = (price, ts)

    def touch(self, symbol: str, ts: datetime) -> None:
        """Stream data for `symbol` stamped `ts` (e.g. a book change) arrived: the held mark is current."""
        held = self._marks.get(symbol)
        if held is not None and ts > held[1]:
            self._marks[symbol] = (held[0], ts)
            self._feed_stale.pop(symbol, None)

    def report_stale(self, symbol: str, age_s: float) -> None:
        """Feed hook (e.g. the Coinbase WebSocket): the stream for `symbol` has been silent `age_s`.
        The symbol counts as stale until a newer mark arrives."""
        self._feed_stale[symbol] = age_s

    def report_stream_stale(self, symbol: str, age_s: float) -> None:
        """The bot's own stream (it runs on it) went silent for `symbol` past the stream's limit (wall time,
        right for an accelerated venue too): stale until the stream brings a newer mark, whatever `age_s`."""
        self._feed_stale[symbol] = float("inf")

    def mark(self, symbol: str) -> Decimal | None:
        held = self._marks.get(symbol)
        return None if held is None else held[0]

    def age_s(self, symbol: str, now: datetime) -> float | None:
        held = self._marks.get(symbol)
        return None if held is None else max(0.0, (now - held[1]).total_seconds())

    def is_stale(self, symbol: str, now: datetime) -> bool:
        if self._feed_stale.get(symbol, 0.0) > self.stale_after_s:
            return True
        age = self.age_s(symbol, now)
        return age is None or age > self.stale_after_s

    def stale_symbols(self, symbols: list[str], now: datetime) -> list[str]:
        return [s for s in symbols if self.is_stale(s, now)]
