"""RiskManager.record_transfer: external cash flows move the daily-loss and drawdown baselines, at once
and durably, so a withdrawal is not a trading loss and a deposit does not lift the peak."""

from __future__ import annotations

from pathlib import Path

from risk_builders import D, manager, snapshot

from gpt_trader.features.live_trade.risk.config import RiskConfig
from gpt_trader.persistence.sqlite import open_database
from gpt_trader.persistence.state_store import StateStore

CANARY_LIKE = RiskConfig(max_daily_loss_pct=D("50"), max_daily_loss_usd=D("10"), max_drawdown_pct=D("1"))


def _store(tmp_path: Path) -> StateStore:
    return StateStore(open_database(tmp_path / "state.db"))


def test_withdrawal_moves_both_baselines_persists_and_does_not_trip(tmp_path: Path) -> None:
    store = _store(tmp_path)
    rm, metrics, _ = manager(CANARY_LIKE, store=store)
    rm.start(snapshot(equity="1000"))
    rm.record_transfer(D("-20"), details={"asset": "USD"})
    assert (rm.state.day_start_equity, rm.state.peak_equity) == (D("980"), D("980"))
    assert metrics.counter("risk.transfers") == 1
    verdict = rm.evaluate(snapshot(equity="980"))
    assert verdict.mode == "active" and not verdict.events
    # durable at once: a new process reads the moved baselines
    again, _, _ = manager(CANARY_LIKE, store=_store(tmp_path))
    again.start(snapshot(equity="980"))
    assert (again.state.day_start_equity, again.state.peak_equity) == (D("980"), D("980"))


def test_without_the_transfer_the_same_withdrawal_trips_the_daily_loss_guard() -> None:
    rm, _, _ = manager(CANARY_LIKE)
    rm.start(snapshot(equity="1000"))
    verdict = rm.evaluate(snapshot(equity="980"))
    assert verdict.mode == "reducing"
    assert "daily_loss" in {e.name for e in verdict.events}


def test_deposit_recorded_before_evaluate_lifts_the_peak_once() -> None:
    rm, _, _ = manager(CANARY_LIKE)
    rm.start(snapshot(equity="1000"))
    rm.record_transfer(D("500"), details={})
    rm.evaluate(snapshot(equity="1500"))
    assert (rm.state.day_start_equity, rm.state.peak_equity) == (D("1500"), D("1500"))
    # withdrawing the deposit later is not a drawdown
    rm.record_transfer(D("-500"), details={})
    verdict = rm.evaluate(snapshot(equity="1000"))
    assert verdict.mode == "active" and rm.state.peak_equity == D("1000")


def test_a_real_loss_after_a_transfer_still_trips() -> None:
    rm, _, _ = manager(CANARY_LIKE)
    rm.start(snapshot(equity="1000"))
    rm.record_transfer(D("-20"), details={})
    assert rm.evaluate(snapshot(equity="980")).mode == "active"
    verdict = rm.evaluate(snapshot(equity="969"))
    assert verdict.mode == "reducing" and "daily_loss" in {e.name for e in verdict.events}


def test_transfer_before_start_moves_the_persisted_baselines(tmp_path: Path) -> None:
    first, _, _ = manager(CANARY_LIKE, store=_store(tmp_path))
    first.start(snapshot(equity="1000"))
    # restart: the withdrawal made while down is booked before start (as PerpsBot does)
    rm, _, _ = manager(CANARY_LIKE, store=_store(tmp_path))
    rm.record_transfer(D("-20"), details={})
    rm.start(snapshot(equity="980"))
    assert (rm.state.day_start_equity, rm.state.peak_equity) == (D("980"), D("980"))
    assert rm.evaluate(snapshot(equity="980")).mode == "active"


def test_transfer_on_a_fresh_state_leaves_unset_baselines_to_start() -> None:
    rm, _, _ = manager(CANARY_LIKE)
    rm.record_transfer(D("-20"), details={})
    assert rm.state.day_start_equity is None and rm.state.peak_equity is None
    rm.start(snapshot(equity="980"))
    assert (rm.state.day_start_equity, rm.state.peak_equity) == (D("980"), D("980"))


def test_a_baseline_taken_after_the_flow_appeared_is_not_moved_again(tmp_path: Path) -> None:
    """A deposit first seen while an order worked: that cycle's evaluate already lifted the peak with it;
    booking it one cycle later must not lift the peak a second time. The day start, older, moves."""
    from datetime import timedelta

    from risk_builders import T0

    store = _store(tmp_path)
    rm, _, clock = manager(CANARY_LIKE, store=store)
    rm.start(snapshot(equity="1000", now=T0))
    t1 = clock.advance(60)
    rm.evaluate(snapshot(equity="1500", now=t1))  # the deposit, not yet confirmed
    assert rm.state.peak_equity == D("1500") and rm.state.peak_at == t1
    rm.record_transfer(D("500"), details={}, after=T0)  # the last reading before it was at T0
    assert rm.state.peak_equity == D("1500")  # not 2000: no phantom drawdown
    assert rm.state.day_start_equity == D("1500")  # taken at T0, before the flow: moved
    again, _, _ = manager(CANARY_LIKE, store=_store(tmp_path))
    again.start(snapshot(equity="1500", now=t1 + timedelta(seconds=60)))
    assert (again.state.day_start_at, again.state.peak_at) == (T0, t1)  # persisted


def test_a_day_started_after_the_flow_appeared_keeps_its_baseline() -> None:
    """Restart on a new UTC day with a withdrawal still unconfirmed: the day starts from equity that is
    already net of it, so booking it later leaves the day start alone."""
    from datetime import timedelta

    from risk_builders import T0

    rm, _, _ = manager(CANARY_LIKE)
    rm.start(snapshot(equity="1000", now=T0))
    next_day = T0 + timedelta(days=1)
    rm.evaluate(snapshot(equity="980", now=next_day))  # rolls the day at 980 (peak stays 1000)
    rm.record_transfer(D("-20"), details={}, after=T0)
    assert (rm.state.day_start_equity, rm.state.peak_equity) == (D("980"), D("980"))
