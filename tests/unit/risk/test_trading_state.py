"""TradingState: one mode with its reason, published to subscribers that can never break the caller."""

from __future__ import annotations

from datetime import UTC, datetime

from gpt_trader.features.live_trade.risk.trading_state import (
    Cause,
    TradingMode,
    TradingState,
    TradingStateChange,
)

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_set_publishes_previous_and_current_and_ignores_repeats() -> None:
    ts = TradingState()
    got: list[TradingStateChange] = []
    ts.subscribe(got.append)
    assert ts.mode is TradingMode.ACTIVE and not ts.reducing
    change = ts.set(TradingMode.REDUCING, "daily_loss: over", since=T0, cause=Cause.GUARD, guard="daily_loss")
    assert change is not None and got == [change]
    assert change.previous.mode is TradingMode.ACTIVE and change.current.mode is TradingMode.REDUCING
    assert change.changed and change.worse and change.current.guard == "daily_loss"
    assert (ts.mode, ts.reason, ts.since, ts.guard) == (TradingMode.REDUCING, "daily_loss: over", T0, "daily_loss")
    assert ts.set(TradingMode.REDUCING, "daily_loss: over", since=T0, cause=Cause.GUARD, guard="daily_loss") is None
    assert len(got) == 1
    back = ts.set(TradingMode.ACTIVE, "", since=T0, cause=Cause.OPERATOR_CLEAR)
    assert back is not None and back.changed and not back.worse and len(got) == 2


def test_a_failing_subscriber_is_counted_and_the_others_still_hear() -> None:
    errors: list[int] = []
    ts = TradingState(on_callback_error=lambda: errors.append(1))
    heard: list[TradingMode] = []

    def broken(change: TradingStateChange) -> None:
        raise RuntimeError("alerter bug")

    ts.subscribe(broken)
    ts.subscribe(lambda c: heard.append(c.current.mode))
    ts.set(TradingMode.HALTED, "error_rate", since=T0, cause=Cause.GUARD, guard="error_rate")
    assert heard == [TradingMode.HALTED] and errors == [1] and ts.halted


def test_announce_keeps_the_mode_and_unsubscribe_stops_delivery() -> None:
    ts = TradingState()
    got: list[TradingStateChange] = []
    unsubscribe = ts.subscribe(got.append)
    ev = ts.announce(Cause.OPERATOR_REBASE_DAILY_LOSS, {"day_start_equity": "981.5"})
    assert got == [ev] and not ev.changed and ev.details["day_start_equity"] == "981.5"
    unsubscribe()
    ts.set(TradingMode.HALTED, "x", since=None, cause=Cause.RECONCILIATION)
    assert len(got) == 1
    assert TradingMode.HALTED.rank > TradingMode.REDUCING.rank > TradingMode.ACTIVE.rank


def test_even_a_failing_error_counter_does_not_reach_the_caller() -> None:
    def broken_counter() -> None:
        raise OSError("metrics backend gone")

    def broken(change: TradingStateChange) -> None:
        raise RuntimeError("alerter bug")

    ts = TradingState(on_callback_error=broken_counter)
    ts.subscribe(broken)
    assert ts.active
    ts.set(TradingMode.REDUCING, "config", since=T0, cause=Cause.CONFIG)
    assert ts.reducing and not ts.active and not ts.halted
