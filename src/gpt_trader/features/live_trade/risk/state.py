"""Guard state that must survive a restart (day-start equity, peak, latches, trips, cooldowns)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import msgspec

from gpt_trader.features.live_trade.risk.config import GuardAction
from gpt_trader.features.live_trade.risk.trading_state import TradingMode

STATE_KEY = "risk.guard_state"
MAX_TRADES_KEPT = 500


class Trip(msgspec.Struct, kw_only=True):
    """One active guard trip. `until` holds it active after the condition clears (cooldowns)."""

    guard: str
    symbol: str | None = None
    action: GuardAction
    severity: Literal["recoverable", "critical"]
    message: str
    since: datetime
    until: datetime | None = None


class RiskState(msgspec.Struct, kw_only=True):
    """Everything the guards must remember across a restart (one JSON document in the state store;
    `persistence.state_store` migrates older shapes of it)."""

    day: str = ""  # UTC date the day-start equity belongs to
    day_start_equity: Decimal | None = None
    peak_equity: Decimal | None = None
    # when each baseline was last taken from an equity reading: a transfer already in that reading
    # must not move it again (see RiskManager.record_transfer)
    day_start_at: datetime | None = None
    peak_at: datetime | None = None
    last_equity: Decimal | None = None
    # the latched trading mode (guards, unreadable state): left only by the operator's clear. The
    # configuration's reduce-only floor and a session's reconciliation halt are not latches, not kept here.
    mode: TradingMode = TradingMode.ACTIVE
    mode_reason: str = ""
    mode_since: datetime | None = None
    mode_guard: str | None = None
    consecutive_losses: int = 0
    loss_cooldown_until: datetime | None = None
    consecutive_api_errors: int = 0
    trips: dict[str, Trip] = {}
    trades: list[tuple[str, Decimal]] = []

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = msgspec.to_builtins(self)
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> RiskState:
        return msgspec.convert(doc, cls, strict=False)
