"""A bot (re)started inside a venue burst waits it out instead of exiting 1 (issue 17): against the
simulator's `outage` fault (every REST request 429 or 503 for N wall seconds, Retry-After when given) it
starts once the burst ends and trades, showing `starting` with a `waiting` block on its health file
meanwhile and counting each wait; a 401 still fails at once; a burst longer than the budget ends in a
clear StartupWaitExhaustedError (exit 1) naming the setting."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from stream_bot_support import RunningBot, assert_fills_equal_venue, stream_sim

from gpt_trader.exchange_sim.background import client_env
from gpt_trader.features.brokerages.core.interfaces import AuthError
from gpt_trader.features.brokerages.core.startup_wait import StartupWaitExhaustedError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _health(run: RunningBot) -> dict[str, Any] | None:
    path = run.registry.config.health_path
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc


@pytest.mark.parametrize(("spec", "reason"), [("outage:6:429:1", "RATE_LIMITED"), ("outage:4:503", "HTTP_503")])
async def test_a_start_inside_a_burst_waits_it_out_then_trades(tmp_path: Path, spec: str, reason: str) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path, env={"COINBASE_STARTUP_WAIT_S": "60"})
        sim.faults.apply(spec)
        t0 = time.monotonic()
        task = asyncio.create_task(run.bot.run())
        run._task = task
        waiting: dict[str, Any] | None = None
        while waiting is None and not task.done() and time.monotonic() - t0 < 10:
            doc = _health(run)
            if doc is not None and doc.get("status") == "starting":
                waiting = doc
            await asyncio.sleep(0.02)
        assert waiting is not None, "the health file never said `starting` while the venue was down"
        assert waiting["waiting"]["reason"] == reason and waiting["waiting"]["budget_s"] == 60
        assert not run.bot._started
        await run.until(lambda: run.bot._started, timeout=30, what="start after the burst")
        started_after = time.monotonic() - t0
        try:
            await run.until(lambda: run.filled_orders() >= 1, timeout=40, what="a first fill after the burst")
            shed = run.bot.health()["streams"]["shed"]  # the load-shedding block (coinbase/shedding.py)
        finally:
            await run.stop()
        assert shed is not None and set(shed) >= {"active", "episodes", "coalesced_book", "coalesced_quote"}
        assert started_after >= 3.5, f"started {started_after:.1f} s in, inside the outage"
        waits = run.metric("startup.waits")
        assert waits >= 1 and run.metric("startup.wait_seconds") >= 1.0
        assert run.registry.metrics.gauge("startup.waiting") == 0.0
        assert sim.faults.state.counters.get("outage", 0) >= waits
        if reason == "RATE_LIMITED":  # Retry-After: 1 is honoured: no wait shorter than a second
            assert run.metric("startup.wait_seconds") >= waits * 1.0
        assert_fills_equal_venue(run)


async def test_401_fails_at_once_and_never_waits(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        env = {**client_env(sim), "COINBASE_STARTUP_WAIT_S": "60"}
        env["COINBASE_PROD_CDP_API_KEY"] = env["COINBASE_PROD_CDP_API_KEY"] + "-revoked"  # a key the venue refuses
        run = RunningBot(sim, tmp_path, env=env)
        t0 = time.monotonic()
        with pytest.raises(AuthError) as caught:
            await run.bot.run()
        assert time.monotonic() - t0 < 5
        assert "HTTP 401" in str(caught.value) and caught.value.exit_code == 1
        assert run.metric("startup.waits") == 0
        doc = _health(run)
        assert doc is None or doc.get("status") != "starting"


async def test_a_burst_longer_than_the_budget_exits_with_a_clear_message(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path, env={"COINBASE_STARTUP_WAIT_S": "2"})
        sim.faults.apply("outage:60:503")
        t0 = time.monotonic()
        with pytest.raises(StartupWaitExhaustedError) as caught:
            await run.bot.run()
        took = time.monotonic() - t0
        sim.faults.clear()
        assert 2.0 <= took < 15, took
        message = caught.value.describe()
        assert "COINBASE_STARTUP_WAIT_S" in message and "coinbase.startup_wait_s" in message and "= 2 s" in message
        assert "HTTP_503" in message and caught.value.exit_code == 1
        assert run.metric("startup.waits") >= 1
        assert not run.bot._started
