"""`VenueClock`: the venue's time as the bot's time, followed from what the venue says.

A live venue stamps every stream frame (heartbeats once a second) and answers `/time`; a simulator may
run faster than the wall (`--speed 60`) or jump (`/admin/advance`). The clock keeps the latest venue
reading with the monotonic instant it arrived and extrapolates between readings at the rate the venue
has been running (the median of recent spans, so one jump does not skew it). It never goes backwards.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

#: readings closer together than this (monotonic seconds) do not measure the rate (jitter dominates)
MIN_RATE_SPAN_S = 0.8
RATE_WINDOW = 5
#: a span whose rate is this many times the current one is an explicit jump, not a speed change
JUMP_FACTOR = 4.0


class VenueClock:
    """Venue time = last reading + (monotonic since it) x rate. Why: bars, staleness, trading windows and
    timers must follow the venue (accelerated simulators, clock jumps), not the local wall clock."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._mono = monotonic
        self._anchor: tuple[float, float] | None = None  # (venue epoch s, monotonic s) of the last reading
        self._span_start: tuple[float, float] | None = None
        self._rates: deque[float] = deque(maxlen=RATE_WINDOW)
        self.rate = 1.0
        self._last_out = float("-inf")
        self.readings = 0
        self.jumps = 0

    @property
    def synced(self) -> bool:
        return self._anchor is not None

    def observe(self, venue_time: datetime) -> None:
        """A venue timestamp just received (stream frame, heartbeat, `/time`)."""
        venue = venue_time.timestamp()
        mono = self._mono()
        self.readings += 1
        start = self._span_start
        if start is None:
            self._span_start = (venue, mono)
        elif mono - start[1] >= MIN_RATE_SPAN_S:
            rate = (venue - start[0]) / (mono - start[1])
            if rate >= 0:
                if self._rates and rate > JUMP_FACTOR * max(self.rate, 1.0):
                    self.jumps += 1  # an explicit jump (e.g. /admin/advance): time moves, the rate does not
                else:
                    self._rates.append(rate)
                    self.rate = statistics.median(self._rates)
            self._span_start = (venue, mono)
        self._anchor = (venue, mono)

    def epoch_s(self) -> float:
        anchor = self._anchor
        if anchor is None:
            return time.time()  # not read yet: the wall clock, and nothing to stay monotonic with
        out = anchor[0] + (self._mono() - anchor[1]) * self.rate
        if out < self._last_out:
            out = self._last_out  # readings lag the extrapolation a little: hold, never step back
        self._last_out = out
        return out

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.epoch_s(), tz=UTC)

    def age_s(self) -> float | None:
        """Monotonic seconds since the last reading (None: never read)."""
        anchor = self._anchor
        return None if anchor is None else self._mono() - anchor[1]
