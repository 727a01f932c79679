"""Guard state survives a restart; reduce-only and halt are left only through clear_reduce_only()."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from risk_builders import T0, Clock, D, manager, market, position, snapshot, spot

from gpt_trader.features.brokerages.core.interfaces import OrderSide
from gpt_trader.features.live_trade.risk.config import RiskConfig
from gpt_trader.features.live_trade.risk.manager import CONFIG_REDUCE_ONLY_REASON, AccountSnapshot
from gpt_trader.features.live_trade.risk.state import STATE_KEY
from gpt_trader.persistence.sqlite import open_database
from gpt_trader.persistence.state_store import StateStore

BTC = "BTC-USD"


def snap(equity: str = "100000", now: datetime = T0, **kw: Any) -> AccountSnapshot:
    kw.setdefault("mids", {BTC: "95000"})
    return snapshot(now=now, equity=equity, products=[spot(BTC)], **kw)


def store(tmp_path: Path) -> StateStore:
    return StateStore(open_database(tmp_path / "state.db"))


def saved(st: StateStore) -> dict[str, Any]:
    doc = st.get(STATE_KEY)
    assert doc is not None, "no guard state saved"
    return doc


def test_restart_remembers_baselines_latch_and_trips(tmp_path: Path) -> None:
    cfg = RiskConfig(max_daily_loss_pct=D("5"), max_consecutive_losses=2, loss_cooldown_s=3600)
    rm, metrics, _clock = manager(cfg, store=store(tmp_path))
    rm.start(snap("100000"))
    rm.evaluate(snap("104000"))
    rm.record_trade_result(BTC, D("-3"))
    rm.record_trade_result(BTC, D("-4"))
    v = rm.evaluate(snap("94000", now=T0 + timedelta(seconds=5)))  # 6% down on the day
    assert v.mode == "reducing"
    assert metrics.counter("risk.guards.daily_loss.critical_failures") == 1
    assert metrics.counter("risk.guards.consecutive_losses.recoverable_failures") == 1

    # a new process: same database, fresh objects
    rm2, metrics2, _ = manager(cfg, store=store(tmp_path), clock=Clock(T0 + timedelta(seconds=10)))
    later = snap("94000", now=T0 + timedelta(seconds=10))
    rm2.start(later)
    st = rm2.state
    assert st.day_start_equity == D("100000") and st.peak_equity == D("104000")
    assert rm2.reduce_only and "daily_loss" in rm2.trading_state.reason and rm2.trading_state.guard == "daily_loss"
    assert st.loss_cooldown_until == T0 + timedelta(seconds=3600)
    assert rm2.trade_history() == [D("-3"), D("-4")]
    v = rm2.evaluate(later)
    # known trips are not re-announced or re-counted after the restart
    assert v.events == [] and metrics2.counter("risk.guards.daily_loss.critical_failures") == 0
    assert v.mode == "reducing" and set(v.blocked_symbols) == {BTC}
    assert not rm2.check_order(market(BTC, OrderSide.BUY, "0.001"), later, is_reducing=False).ok


def test_clear_releases_the_latch_but_a_guard_still_over_its_limit_trips_again(tmp_path: Path) -> None:
    rm, metrics, _ = manager(RiskConfig(max_drawdown_pct=D("10"), max_daily_loss_pct=D("50")), store=store(tmp_path))
    rm.start(snap("100000"))
    assert rm.evaluate(snap("89000")).mode == "reducing"
    # equity recovers: still latched
    assert rm.evaluate(snap("100000")).mode == "reducing"
    assert rm.evaluate(snap("89000")).mode == "reducing"
    rm.clear_reduce_only()
    # clearing is not forgetting: the peak stays, and the drawdown (11 %) still holds
    assert not rm.reduce_only and rm.state.peak_equity == D("100000")
    assert metrics.counter("risk.reduce_only_cleared") == 1
    assert rm.evaluate(snap("89000")).mode == "reducing"
    assert metrics.counter("risk.guards.drawdown.critical_failures") == 3  # 2 before the clear
    # re-basing the peak is its own explicit action; then a clear lets it trade
    rm.rebase_drawdown()
    assert rm.state.peak_equity == D("89000") and metrics.counter("risk.rebase.drawdown") == 1
    assert rm.reduce_only  # re-basing alone does not release the latch
    rm.clear_reduce_only()
    s = snap("89000")
    assert rm.evaluate(s).mode == "active"
    assert rm.check_order(market(BTC, OrderSide.BUY, "0.001"), s, is_reducing=False).ok
    # the clear is persisted too
    rm2, _, _ = manager(RiskConfig(), store=store(tmp_path))
    rm2.start(snap("89000"))
    assert not rm2.reduce_only
    # a further 10 % from the new baseline trips again
    assert rm.evaluate(snap("80100")).mode == "reducing"


def test_halt_latch_survives_restart_and_clears_explicitly(tmp_path: Path) -> None:
    rm, _, _ = manager(RiskConfig(error_rate_min_calls=4), store=store(tmp_path))
    rm.start(snap())
    for _ in range(4):
        rm.record_api_call(ok=False)
    assert rm.evaluate(snap()).mode == "halted"
    rm2, _, _ = manager(RiskConfig(error_rate_min_calls=4), store=store(tmp_path))
    rm2.start(snap())
    assert rm2.halted and rm2.evaluate(snap()).mode == "halted"
    rm2.clear_reduce_only()
    assert rm2.evaluate(snap()).mode == "active"


def test_config_reduce_only_is_not_cleared_by_the_operator_call() -> None:
    rm, _, _ = manager(RiskConfig(reduce_only_mode=True))
    assert rm.trading_state.reason == CONFIG_REDUCE_ONLY_REASON and rm.trading_state.guard is None
    rm.start(snap())
    rm.clear_reduce_only()
    assert rm.reduce_only and rm.evaluate(snap()).mode == "reducing"
    assert rm.trading_state.reason == CONFIG_REDUCE_ONLY_REASON


def test_a_session_halt_is_not_persisted_and_a_guard_halt_outranks_a_reduce_only_latch(tmp_path: Path) -> None:
    rm, metrics, _ = manager(RiskConfig(max_daily_loss_pct=D("5")), store=store(tmp_path))
    rm.start(snap())
    assert rm.evaluate(snap("94000")).mode == "reducing"
    rm.halt_session("BTC: store (bot fills) 0 vs exchange 0.5")
    assert rm.halted and rm.trading_state.reason.startswith("BTC: store") and metrics.counter("risk.halts") == 1
    assert rm.evaluate(snap("94000")).mode == "halted"
    # a new process: the reduce-only latch is back, the session halt is not (start-up reconciliation re-checks)
    rm2, _, _ = manager(RiskConfig(max_daily_loss_pct=D("5")), store=store(tmp_path))
    rm2.start(snap("94000"))
    assert rm2.trading_state.mode == "reducing" and rm2.trading_state.guard == "daily_loss"


def test_malformed_state_fails_closed(tmp_path: Path) -> None:
    st = store(tmp_path)
    st.put(STATE_KEY, {"day_start_equity": "not a number", "trips": 7})
    rm, metrics, _ = manager(store=st)
    rm.start(snap())
    assert rm.reduce_only and rm.trading_state.reason == "guard state malformed"
    assert metrics.counter("risk.state_errors") == 1


def test_state_written_when_it_matters_and_refinements_batched(tmp_path: Path) -> None:
    st = store(tmp_path)
    rm, _, _ = manager(store=st)
    rm.start(snap())
    doc = st.get(STATE_KEY)
    assert doc is not None and doc["peak_equity"] == "100000" and doc["day"] == "2026-03-02"
    st.delete(STATE_KEY)
    rm.evaluate(snap("99000"))  # nothing changed worth saving
    assert st.get(STATE_KEY) is None
    rm.evaluate(snap("101000"))  # first new peak: written (nothing flushed yet this run)
    assert saved(st)["peak_equity"] == "101000"
    rm.evaluate(snap("102000", now=T0 + timedelta(seconds=10)))  # a refinement within 30 s: batched
    assert saved(st)["peak_equity"] == "101000"
    rm.evaluate(snap("102000", now=T0 + timedelta(seconds=30)))
    assert saved(st)["peak_equity"] == "102000"
    rm.evaluate(snap("103000", now=T0 + timedelta(seconds=35)))
    rm.flush()  # shutdown writes what is pending
    assert saved(st)["peak_equity"] == "103000"
    # a trip is written at once
    rm.evaluate(snap("90000", now=T0 + timedelta(seconds=36)))
    assert saved(st)["mode"] == "reducing"


def test_positions_needed_for_flatten_do_not_block_exits() -> None:
    rm, _, _ = manager(RiskConfig(actions={"drawdown": "flatten"}, max_daily_loss_pct=D("50")))
    held = [position(BTC, "0.2", entry="95000")]
    rm.start(snap("100000", positions=held))
    s = snap("89000", positions=held)
    v = rm.evaluate(s)
    assert "*" in v.flatten
    assert rm.check_order(market(BTC, OrderSide.SELL, "0.2"), s, is_reducing=True).ok
    assert rm.check_order(market(BTC, OrderSide.BUY, "0.001"), s, is_reducing=False).rule == "reduce_only"


def test_clear_before_start_keeps_the_rest_of_the_state(tmp_path: Path) -> None:
    """The CLI clears (and re-bases) before the bot's first snapshot: history and cooldowns survive, the
    re-based baselines take that first snapshot's equity."""
    cfg = RiskConfig(max_drawdown_pct=D("10"), max_daily_loss_pct=D("50"), max_consecutive_losses=9)
    rm, _, _ = manager(cfg, store=store(tmp_path))
    rm.start(snap("100000"))
    rm.record_trade_result(BTC, D("-7"))
    assert rm.evaluate(snap("89000")).mode == "reducing"
    fresh_process, metrics, _ = manager(cfg, store=store(tmp_path))
    fresh_process.clear_reduce_only()  # before start()
    fresh_process.rebase_drawdown()
    fresh_process.rebase_daily_loss()
    assert not fresh_process.reduce_only and metrics.counter("risk.reduce_only_cleared") == 1
    fresh_process.start(snap("88000"))
    st = fresh_process.state
    assert st.peak_equity == D("88000") and st.day_start_equity == D("88000")
    assert fresh_process.trade_history() == [D("-7")] and st.consecutive_losses == 1
    assert fresh_process.evaluate(snap("88000")).mode == "active"


def _v1_store_with(tmp_path: Path, doc: dict[str, Any]) -> Path:
    """A database as the previous release left it: state_store schema v1, the two-flag guard state."""
    import json

    from gpt_trader.persistence.sqlite import migrate
    from gpt_trader.persistence.state_store import MIGRATIONS

    path = tmp_path / "old.db"
    conn = open_database(path)
    migrate(conn, "state_store", MIGRATIONS[:1])
    conn.execute(
        "INSERT INTO state(key, value, updated_at) VALUES(?, ?, datetime('now'))", (STATE_KEY, json.dumps(doc))
    )
    conn.close()
    return path


def test_a_latched_halt_of_the_previous_release_is_migrated_and_still_holds(tmp_path: Path) -> None:
    old = {
        "day": "2026-03-02",
        "day_start_equity": "100000",
        "peak_equity": "100000",
        "reduce_only": True,
        "reduce_only_reason": "api_errors: 6 consecutive exchange errors (limit 5)",
        "halted": True,
        "halt_reason": "error_rate: 6/10 recent exchange calls failed",
        "trips": {},
        "trades": [],
    }
    st = StateStore(open_database(_v1_store_with(tmp_path, old)))
    doc = saved(st)
    assert "halted" not in doc and "reduce_only" not in doc
    assert (doc["mode"], doc["mode_guard"]) == ("halted", "error_rate")
    rm, _, _ = manager(store=st)
    rm.start(snap())
    assert rm.halted and rm.trading_state.reason.startswith("error_rate: ") and rm.evaluate(snap()).mode == "halted"


def test_a_reduce_only_latch_and_a_clean_state_of_the_previous_release_migrate(tmp_path: Path) -> None:
    latched = {"reduce_only": True, "reduce_only_reason": "guard state malformed", "halted": False, "halt_reason": ""}
    st = StateStore(open_database(_v1_store_with(tmp_path, latched)))
    assert (saved(st)["mode"], saved(st)["mode_guard"]) == ("reducing", None)
    rm, _, _ = manager(store=st)
    rm.start(snap())
    assert rm.reduce_only and not rm.halted and rm.trading_state.reason == "guard state malformed"
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean = StateStore(open_database(_v1_store_with(clean_dir, {"reduce_only": False, "halted": False})))
    assert saved(clean)["mode"] == "active"


def test_an_unreadable_guard_state_survives_the_migration_and_still_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = open_database(path)
    from gpt_trader.persistence.sqlite import migrate
    from gpt_trader.persistence.state_store import MIGRATIONS

    migrate(conn, "state_store", MIGRATIONS[:1])
    conn.execute("INSERT INTO state(key, value, updated_at) VALUES(?, 'not json {', datetime('now'))", (STATE_KEY,))
    conn.close()
    st = StateStore(open_database(path))  # the v2 step leaves what it cannot read as it is
    rm, _, _ = manager(store=st)
    rm.start(snap())
    assert rm.reduce_only and rm.trading_state.reason == "guard state unreadable"
    assert rm.trading_state.status.mode == "reducing"


def test_clear_forgets_a_symbol_scoped_latching_trip_so_a_still_stale_mark_halts_again() -> None:
    rm, metrics, _ = manager(RiskConfig(actions={"stale_mark": "halt"}))
    rm.start(snap())
    stale = snap(now=T0 + timedelta(seconds=31), quote_ts=T0)
    assert rm.evaluate(stale).mode == "halted"
    rm.clear_reduce_only()
    assert rm.trading_state.mode == "active" and "stale_mark:BTC-USD" not in rm.state.trips
    assert rm.evaluate(stale).mode == "halted"  # still stale: trips, counts and latches again
    assert metrics.counter("risk.guards.stale_mark.critical_failures") == 2
    rm.clear_reduce_only()
    assert rm.evaluate(snap(now=T0 + timedelta(seconds=32), quote_ts=T0 + timedelta(seconds=31))).mode == "active"


def test_a_store_that_fails_to_write_is_counted_and_the_latch_still_holds_in_memory(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "state.db")
    st = StateStore(conn)
    rm, metrics, _ = manager(RiskConfig(max_daily_loss_pct=D("5")), store=st)
    rm.start(snap())
    conn.close()  # the disk goes away under the bot
    assert rm.evaluate(snap("94000", now=T0 + timedelta(seconds=5))).mode == "reducing"
    assert metrics.counter("risk.state_errors") >= 1 and rm.reduce_only


def test_naive_timestamps_are_refused_with_a_clear_error() -> None:
    import pytest

    rm, _, _ = manager()
    with pytest.raises(ValueError, match="timezone-aware UTC, got naive 2026-03-02T12:00:00"):
        rm.start(snap(now=T0.replace(tzinfo=None)))
