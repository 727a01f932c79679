"""The market stream's load shedding, as the bot reports it: `stream.shed.*` metrics and health.

Why apart from stream_feed.py: the shedding itself lives in the adapter (coinbase/shedding.py); this
module only turns a `LoadShedding` venue's counts into the bot's metrics once a cycle (counters as
deltas: `stream.shed.coalesced.book`, `stream.shed.coalesced.quote`, `stream.shed.episodes`; gauges
`stream.shed.active`, `stream.shed.pending`, `stream.shed.max_wait_s`) and into the `streams.shed` block
of the health document, so shedding is never silent.
"""

from __future__ import annotations

from typing import Any

from gpt_trader.features.brokerages.core.interfaces import LoadShedding
from gpt_trader.features.monitor.metrics import MetricsRegistry

COUNTED = ("coalesced.book", "coalesced.quote", "episodes")
GAUGED = ("active", "pending", "max_wait_s")


class ShedReport:
    """Publishes a venue's shedding counts; a venue that does not shed reports nothing."""

    def __init__(self, venue: object, metrics: MetricsRegistry) -> None:
        self.venue = venue if isinstance(venue, LoadShedding) else None
        self.metrics = metrics
        self._seen: dict[str, float] = {}
        if self.venue is not None:
            for key in COUNTED:  # exported at zero from the start: increase() sees the first episode
                metrics.inc(f"stream.shed.{key}", 0.0)

    def publish(self) -> None:
        if self.venue is None:
            return
        stats = self.venue.shed_stats()
        for key in COUNTED:
            delta = stats.get(key, 0.0) - self._seen.get(key, 0.0)
            if delta > 0:
                self.metrics.inc(f"stream.shed.{key}", delta)
        for key in GAUGED:
            self.metrics.set_gauge(f"stream.shed.{key}", stats.get(key, 0.0))
        self._seen = dict(stats)

    def health(self) -> dict[str, Any] | None:
        if self.venue is None:
            return None
        stats = self.venue.shed_stats()
        return {
            "active": bool(stats.get("active")),
            "episodes": int(stats.get("episodes", 0)),
            "coalesced_book": int(stats.get("coalesced.book", 0)),
            "coalesced_quote": int(stats.get("coalesced.quote", 0)),
            "max_wait_s": round(stats.get("max_wait_s", 0.0), 3),
        }
