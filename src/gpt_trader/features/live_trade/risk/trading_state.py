"""The one trading state of the bot: ACTIVE, REDUCING or HALTED, with its reason and a change event.

The RiskManager owns the single `TradingState`; guards, the configuration (`risk.reduce_only_mode`),
reconciliation and the operator move it only through the manager. Anything that must hear about a
change (alerts, metrics, health) calls `subscribe(callback)`: each callback receives a
`TradingStateChange(previous, current, cause, ...)`, synchronously, right after the change. A callback
that raises is logged and counted, never propagated: an alerting bug must not stop the trading loop.

Operator actions that do not move the mode (re-basing the daily loss budget) are published through the
same callback with `changed == False` and a `cause` naming the action, so one subscription hears both.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Mapping
from datetime import datetime

import msgspec
import structlog

log = structlog.get_logger("risk.trading_state")


class TradingMode(enum.StrEnum):
    """ACTIVE trades normally; REDUCING only shrinks positions; HALTED sends nothing new at all."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"

    @property
    def rank(self) -> int:
        """Severity order: ACTIVE 0 < REDUCING 1 < HALTED 2."""
        return _RANK[self]


_RANK = {TradingMode.ACTIVE: 0, TradingMode.REDUCING: 1, TradingMode.HALTED: 2}


class Cause(enum.StrEnum):
    """Why the trading state changed (or, for operator actions, what the operator did)."""

    GUARD = "guard"  # a runtime guard tripped
    CONFIG = "config"  # risk.reduce_only_mode / RISK_REDUCE_ONLY_MODE / --reduce-only
    RECONCILIATION = "reconciliation"  # a persistent store/exchange difference while trading
    STATE_ERROR = "state_error"  # persisted guard state unreadable or malformed: fail closed
    RESTORED = "restored"  # a latched mode read back from the state store at start-up
    OPERATOR_CLEAR = "operator_clear"  # --clear-reduce-only released the latch
    OPERATOR_REBASE_DAILY_LOSS = "operator_rebase_daily_loss"  # --rebase-daily-loss (mode unchanged)
    OPERATOR_REBASE_DRAWDOWN = "operator_rebase_drawdown"  # --rebase-drawdown (mode unchanged)


class TradingStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One value of the trading state. `since` is venue time (None before the first reading);
    `guard` names the guard that set the mode, None when something else did."""

    mode: TradingMode = TradingMode.ACTIVE
    reason: str = ""
    since: datetime | None = None
    guard: str | None = None


class TradingStateChange(msgspec.Struct, frozen=True, kw_only=True):
    """What subscribers receive. `changed` is False for an operator action that left the mode as it was;
    `at` is the venue time of the event (None when it happened before the venue's clock was read)."""

    previous: TradingStatus
    current: TradingStatus
    cause: Cause
    details: Mapping[str, str] = {}
    at: datetime | None = None

    @property
    def changed(self) -> bool:
        return self.previous.mode is not self.current.mode

    @property
    def worse(self) -> bool:
        """The mode moved toward HALTED (an alert should fire; a better mode resolves it)."""
        return self.current.mode.rank > self.previous.mode.rank


Subscriber = Callable[[TradingStateChange], None]


class TradingState:
    """Holder of the current `TradingStatus` and of its subscribers (see the module docstring).

    Read `mode`, `reason`, `since`, `guard` or `status`; only the RiskManager calls `set` and `announce`.
    """

    def __init__(self, status: TradingStatus | None = None, *, on_callback_error: Callable[[], None] | None = None):
        self._status = status if status is not None else TradingStatus()
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._on_callback_error = on_callback_error

    # ------------------------------------------------------------------ reading
    @property
    def status(self) -> TradingStatus:
        return self._status

    @property
    def mode(self) -> TradingMode:
        return self._status.mode

    @property
    def reason(self) -> str:
        return self._status.reason

    @property
    def since(self) -> datetime | None:
        return self._status.since

    @property
    def guard(self) -> str | None:
        return self._status.guard

    @property
    def active(self) -> bool:
        return self._status.mode is TradingMode.ACTIVE

    @property
    def reducing(self) -> bool:
        """True when entries are refused (REDUCING or HALTED)."""
        return self._status.mode is not TradingMode.ACTIVE

    @property
    def halted(self) -> bool:
        return self._status.mode is TradingMode.HALTED

    # ------------------------------------------------------------------ subscribing
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(change)` on every change and operator action; returns an unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    # ------------------------------------------------------------------ changing (RiskManager only)
    def set(
        self,
        mode: TradingMode,
        reason: str,
        *,
        since: datetime | None,
        cause: Cause,
        guard: str | None = None,
        details: Mapping[str, str] | None = None,
    ) -> TradingStateChange | None:
        """Move to `mode`; returns the published change, or None when mode, reason and guard are unchanged."""
        previous = self._status
        if previous.mode is mode and previous.reason == reason and previous.guard == guard:
            return None
        current = TradingStatus(mode=mode, reason=reason, since=since, guard=guard)
        self._status = current
        change = TradingStateChange(
            previous=previous, current=current, cause=cause, details=dict(details or {}), at=since
        )
        self._publish(change)
        return change

    def announce(
        self, cause: Cause, details: Mapping[str, str] | None = None, *, at: datetime | None = None
    ) -> TradingStateChange:
        """Publish an operator action that leaves the mode as it is (previous == current)."""
        change = TradingStateChange(
            previous=self._status, current=self._status, cause=cause, details=dict(details or {}), at=at
        )
        self._publish(change)
        return change

    def _publish(self, change: TradingStateChange) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(change)
            except Exception as exc:  # a subscriber's bug must never reach the trading loop
                log.error(
                    "trading state subscriber failed",
                    subscriber=getattr(callback, "__qualname__", type(callback).__name__),
                    error=f"{type(exc).__name__}: {exc}",
                    cause=change.cause.value,
                )
                if self._on_callback_error is not None:
                    try:
                        self._on_callback_error()
                    except Exception:  # counting the failure must not fail either
                        log.error("trading state subscriber error counter failed")


__all__ = ["Cause", "Subscriber", "TradingMode", "TradingState", "TradingStateChange", "TradingStatus"]
