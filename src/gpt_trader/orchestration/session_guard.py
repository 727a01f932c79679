"""Trading windows: outside the window only reduce-only actions are allowed (DESIGN §3 step 1)."""

from __future__ import annotations

from datetime import datetime, time

from gpt_trader.orchestration.configuration import TradingWindow


class SessionGuard:
    def __init__(self, window: TradingWindow | None) -> None:
        self._window = window

    @property
    def window(self) -> TradingWindow | None:
        return self._window

    def is_open(self, now: datetime) -> bool:
        """True when new risk may be opened at `now` (UTC). A window may wrap midnight (22:00-02:00)."""
        if self._window is None:
            return True
        start, end = self._window.start_time, self._window.end_time
        t = now.timetz().replace(tzinfo=None) if now.tzinfo else now.time()
        t = time(t.hour, t.minute, t.second, t.microsecond)
        if start <= end:
            return start <= t < end
        return t >= start or t < end

    def describe(self) -> str:
        if self._window is None:
            return "always open"
        return f"{self._window.start}-{self._window.end} UTC"
