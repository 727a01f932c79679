"""Journal every TradingState change and operator action in the event store (`trading_state` events).

Why: a halt, a cleared latch or a re-based loss budget is an operator-relevant fact that must survive
the process, be visible to `replay`, the dashboards and an auditor, and carry its reason and venue time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from gpt_trader.features.live_trade.risk.trading_state import TradingStateChange
from gpt_trader.persistence.event_store import EventStore

log = structlog.get_logger("trading_state_journal")

EVENT_KIND = "trading_state"


def trading_state_payload(change: TradingStateChange) -> dict[str, object]:
    """The journaled form of a change: plain strings, no secrets (reasons and baselines only)."""
    return {
        "cause": change.cause.value,
        "changed": change.changed,
        "previous_mode": change.previous.mode.value,
        "previous_reason": change.previous.reason,
        "mode": change.current.mode.value,
        "reason": change.current.reason,
        "guard": change.current.guard,
        "since": None if change.current.since is None else change.current.since.isoformat(),
        "details": dict(change.details),
    }


def journal_to(events: EventStore, clock: Callable[[], datetime]) -> Callable[[TradingStateChange], None]:
    """A TradingState subscriber that appends one `trading_state` event per change (venue time)."""

    def record(change: TradingStateChange) -> None:
        events.append(EVENT_KIND, trading_state_payload(change), ts=change.at or clock())
        log.info(
            "trading state",
            cause=change.cause.value,
            mode=change.current.mode.value,
            previous=change.previous.mode.value,
            reason=change.current.reason,
        )

    return record
