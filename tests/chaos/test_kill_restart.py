"""Chaos: the canary bot, as a real subprocess against the exchange simulator over 127.0.0.1, is
SIGKILLed at random moments (and at the execution kill points: between writing an intent and sending
it, between sending and storing the acknowledgement) at least 30 times, restarting each time.

Afterwards: no client_order_id twice at the exchange, every exchange order known to the store, the
bot's positions and USD balance (rebuilt from its store) equal the simulator's, and the persisted
daily-loss baseline and peak equity survived every restart.
"""

from __future__ import annotations

import collections
import itertools
import json
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from chaos_support import SYMBOLS, SimThread, bot_env, window_start, write_canary_profile

from gpt_trader.features.brokerages.core.interfaces import Balance, Fill, Order, OrderStatus
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.orchestration.live_execution import CHAOS_KILL_ENV
from gpt_trader.orchestration.positions import PositionBook
from gpt_trader.persistence.event_store import EventStore
from gpt_trader.persistence.orders_store import OrdersStore
from gpt_trader.persistence.sqlite import open_database
from gpt_trader.persistence.state_store import StateStore

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(420)]

CHAOS_SECONDS = 140.0
MIN_KILLS = 30
ARM_BEFORE_BAR_S = 9.0  # a life launched this close to a bar boundary is up when the bar completes
START_USD = Decimal("100000")


@dataclass
class ChaosLog:
    kills: int = 0
    driver_kills: int = 0
    point_kills: collections.Counter[str] = field(default_factory=collections.Counter)
    lives: list[str] = field(default_factory=list)
    guard_states: list[dict[str, object]] = field(default_factory=list)


def _launch(profile: Path, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "gpt_trader.cli", "run", "--profile", str(profile)],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    finally:
        out.close()


def _seconds_to_next_bar(now: datetime) -> float:
    return 60.0 - (now.second + now.microsecond / 1e6)


def _guard_state(db: Path) -> dict[str, object] | None:
    if not db.exists():
        return None
    conn = open_database(db)
    try:
        return StateStore(conn).get("risk.guard_state")
    finally:
        conn.close()


def _run_chaos(sim_thread: SimThread, profile: Path, work: Path, db: Path, rng: random.Random) -> ChaosLog:
    """Kill/restart loop. A life that will see a bar boundary (orders follow) is armed with a kill point,
    or, once both points have fired, every other boundary is killed at a random moment among its orders;
    the other lives are killed at a random moment (often mid start-up or mid reconciliation)."""
    sim = sim_thread.sim
    log = ChaosLog()
    deadline = time.monotonic() + CHAOS_SECONDS
    next_point = "after_intent"
    boundaries = 0
    while time.monotonic() < deadline or log.kills < MIN_KILLS:
        to_bar = _seconds_to_next_bar(sim.clock.now())
        extra: dict[str, str] = {}
        both_seen = log.point_kills["after_intent"] > 0 and log.point_kills["after_send"] > 0
        at_boundary = to_bar <= ARM_BEFORE_BAR_S and log.lives[-1:] != ["after_intent"]
        if at_boundary:
            boundaries += 1
        if at_boundary and both_seen and boundaries % 2 == 0:
            # let this bar's orders go out and kill somewhere in the middle of them
            budget = to_bar + rng.uniform(0.5, 3.5)
            mode = "random"
        elif at_boundary or log.lives[-1:] == ["after_intent"]:
            # orders are about to be sent (or a killed intent is about to be resent): kill at a point
            nth = 1 if next_point == "after_send" or not log.point_kills else rng.randint(1, 3)
            extra[CHAOS_KILL_ENV] = f"{next_point}:{nth}"
            budget = max(to_bar, 0.0) + 8.0
            mode = next_point
            next_point = "after_send" if next_point == "after_intent" else "after_intent"
        else:
            budget = rng.uniform(0.4, min(4.0, max(0.5, to_bar - ARM_BEFORE_BAR_S)))
            mode = "random"
        proc = _launch(profile, bot_env(sim_thread.env(), extra), work, work / "bot.out")
        try:
            rc = proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            rc = proc.wait(timeout=30)
            log.driver_kills += 1
            mode = "random" if mode == "random" else f"{mode}-not-reached"
        else:
            if rc != -signal.SIGKILL:
                tail = (work / "bot.out").read_text(errors="replace")[-4000:]
                raise AssertionError(f"bot exited on its own with {rc} (mode {mode}):\n{tail}")
            log.point_kills[mode] += 1
        log.kills += 1
        log.lives.append(mode)
        state = _guard_state(db)
        if state is not None:
            log.guard_states.append(state)
    return log


def _final_clean_run(sim_thread: SimThread, profile: Path, work: Path) -> None:
    """One last start: start-up reconciliation must accept the store, then a graceful stop."""
    proc = _launch(profile, bot_env(sim_thread.env()), work, work / "final.out")
    time.sleep(8.0)
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=60)
    output = (work / "final.out").read_text(errors="replace")
    assert rc == 0, f"final run exited {rc}:\n{output[-4000:]}"
    assert "bot started" in output, output[-4000:]


def _exchange_view(sim_thread: SimThread) -> tuple[list[Order], list[Fill], list[Balance]]:
    sim = sim_thread.sim

    async def read() -> tuple[list[Order], list[Fill], list[Balance]]:
        acct = sim.account_id
        return (
            sim.engine.list_orders(acct, None, open_only=False),
            sim.engine.list_fills(acct, None, None, None),
            sim.engine.balances(acct),
        )

    return sim_thread.call(read())


def test_sigkill_restart_chaos_keeps_orders_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(20251121)
    sim_thread = SimThread(
        port=0,
        seed=11,
        start_time=window_start(),
        rate_limit_private=1000,  # 0 would advertise remaining=0 and make the client wait each second
        rate_limit_public=1000,
        initial_funds={"USD": START_USD},
        products=[p for p in default_products() if p.symbol in SYMBOLS],
    )
    sim_thread.start()
    try:
        work = tmp_path / "work"
        work.mkdir()
        profile = write_canary_profile(tmp_path, tmp_path / "data")
        db = tmp_path / "data" / "canary" / "bot.sqlite3"
        log = _run_chaos(sim_thread, profile, work, db, rng)
        _final_clean_run(sim_thread, profile, work)
        orders, fills, balances = _exchange_view(sim_thread)
    finally:
        sim_thread.stop()

    summary = {
        "kills": log.kills,
        "driver_kills": log.driver_kills,
        "point_kills": dict(log.point_kills),
        "exchange_orders": len(orders),
        "exchange_fills": len(fills),
    }
    print("chaos summary:", json.dumps(summary))
    assert log.kills >= MIN_KILLS, summary
    assert log.point_kills["after_intent"] >= 1 and log.point_kills["after_send"] >= 1, summary
    assert len(orders) >= 3, summary

    # 0. the recovery paths really ran: intents resent after a kill before send, found after a kill after
    events = EventStore(open_database(db), "chaos-reader")
    corrections = collections.Counter(
        e["payload"]["kind"]
        for sid in events.sessions()
        for e in events.iter_events(session_id=sid, kind="reconcile_correction")
    )
    print("reconciliation corrections:", json.dumps(dict(corrections)))
    assert corrections["pending_resend"] >= 1 and corrections["pending_found_at_exchange"] >= 1, corrections

    # 1. exactly once at the exchange
    coids = collections.Counter(o.client_order_id for o in orders)
    assert [c for c, n in coids.items() if n > 1] == []

    # 2. every exchange order is known to the store, with its exchange id and final status
    store = OrdersStore(open_database(db))
    for order in orders:
        stored = store.get(order.client_order_id)
        assert stored is not None, f"exchange order {order.order_id} ({order.client_order_id}) unknown to store"
        assert stored.order_id == order.order_id
        assert stored.status is order.status, (stored.status, order.status, order.client_order_id)
    assert store.list_orders(statuses=[OrderStatus.PENDING_SUBMIT]) == []
    assert {f.trade_id for f in store.fills()} == {f.trade_id for f in fills}

    # 3. positions and balances: the bot's ledger (rebuilt from its store) equals the simulator
    book = PositionBook()
    for entry in store.ledger_entries():
        book.apply_fill(entry)
    by_asset = {b.asset: b.total for b in balances}
    baseline = store.baseline() or {}
    for sym in SYMBOLS:
        base = sym.split("-")[0]
        assert by_asset.get(base, Decimal(0)) - baseline.get(base, Decimal(0)) == book.size(sym), sym
    cash = START_USD
    for f in store.fills():
        # the venue settles each fill's notional and fee exactly (unrounded)
        value = f.price * f.size
        cash += (value if f.side.value == "SELL" else -value) - f.fee
    assert by_asset["USD"] == cash

    # 4. guard state: the daily-loss baseline never moved within the day and the peak never went down
    states = [s for s in log.guard_states if s.get("day_start_equity") is not None]
    assert len(states) >= MIN_KILLS // 2, "guard state should be persisted by most lives"
    days = {s["day"] for s in states}
    assert len(days) == 1, days
    assert len({s["day_start_equity"] for s in states}) == 1, "day-start equity was reset by a restart"
    peaks = [Decimal(str(s["peak_equity"])) for s in states]
    assert all(b >= a for a, b in itertools.pairwise(peaks)), "peak equity went down on a restart"
