"""Must show (issue 12): the canary bot on the exchange simulator with a tiny daily-loss limit takes a
losing trade and halts; `/metrics` shows the daily-loss guard's critical counter and the HALTED state,
`/health` answers 503 with the reason, the local Slack receiver got one message and the local PagerDuty
receiver one trigger with a dedup_key. The next UTC day, a restart with `--clear-reduce-only` finds the
condition gone and resolves the page with the same dedup_key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from alert_receivers import AlertReceivers, wait_for
from monitor_support import canary_bot, canary_config, sim_env, small_sim
from prometheus_client.parser import text_string_to_metric_families

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.core.interfaces import OrderRequest, OrderSide, OrderType, TimeInForce
from gpt_trader.orchestration.configuration import ConfigManager
from gpt_trader.orchestration.live_execution import client_order_id_for

pytestmark = pytest.mark.integration
ROUTING_KEY = "R0UTINGKEY-secret-123"


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    async for s in small_sim(seed=11, tick_interval_s=0.2, usd="100000"):
        yield s


def _manager(sim: ExchangeSimulator, receivers: AlertReceivers) -> ConfigManager:
    env = sim_env(
        sim,
        RISK_MAX_DAILY_LOSS_PCT="0.001",  # $2 of $200k: below the canary's $10, so the % limit binds
        GPT_TRADER_METRICS_PORT="0",
        **receivers.env(ROUTING_KEY),
    )
    return ConfigManager(env=env, dotenv_path=None)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_loss_halts_and_is_heard_then_resolved_next_day(
    sim: ExchangeSimulator, receivers: AlertReceivers, tmp_path: Path
) -> None:
    manager = _manager(sim, receivers)
    config = canary_config(manager, tmp_path)
    assert config.monitoring.metrics_port == 0 and config.risk.max_daily_loss_pct == Decimal("0.001")
    bot = canary_bot(manager, config)
    bot.monitoring.open()
    assert bot.monitoring.server is not None
    base = bot.monitoring.server.url
    await bot.start()
    await bot.run_cycle()
    assert not bot.halted and bot.monitoring.board.current()[0] == 200

    # a trade that loses: buy 0.01 BTC through the bot's execution engine; spread and taker fee (~$11)
    # are a loss over the $2 limit at once
    request = OrderRequest(
        symbol="BTC-USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("0.01"),
        time_in_force=TimeInForce.IOC,
        client_order_id=client_order_id_for(config.bot_id, "must-show/buy"),
    )
    await bot.execution.submit(request, intent_id="must-show/buy")
    for _ in range(20):
        await bot.run_cycle()
        if bot.halted:
            break
        if bot.feed is not None:  # on streams the fill arrives as a user-channel push, as in `run`
            await asyncio.wait_for(bot.feed.wait(), timeout=10)
    assert bot.positions.size("BTC-USD") == Decimal("0.01")
    assert bot.halted and "daily_loss" in (bot.halt_reason or "")
    assert "0.001%" in (bot.halt_reason or "")

    async with httpx.AsyncClient(base_url=base) as client:
        metrics = await client.get("/metrics")
        health = await client.get("/health")
    assert metrics.status_code == 200
    samples = _samples(metrics.text)
    guard = ("gpt_trader_risk_guard_failures_total", (("guard", "daily_loss"), ("severity", "critical")))
    assert samples[guard] == 1.0
    assert samples[("gpt_trader_trading_state", (("state", "HALTED"),))] == 1.0
    assert samples[("gpt_trader_trading_state", (("state", "ACTIVE"),))] == 0.0
    assert samples[("gpt_trader_cycle_duration_seconds_count", ())] == bot.cycle
    assert samples[("gpt_trader_position_size", (("symbol", "BTC-USD"),))] == 0.01
    assert ("gpt_trader_coinbase_rest_requests_total", ()) in samples
    assert health.status_code == 503
    assert health.json()["status"] == "halted" and "daily_loss" in health.json()["reason"]

    await wait_for(lambda: len(receivers.pagerduty) >= 1 and len(receivers.slack) >= 1, what="alerts")
    await bot.shutdown()  # flushes the alert queue, stops the endpoint
    assert len(receivers.slack) == 1, receivers.slack
    assert "HALTED" in receivers.slack[0]["text"] and "daily_loss" in receivers.slack[0]["text"]
    assert len(receivers.pagerduty) == 1
    trigger = receivers.pagerduty[0]
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == ROUTING_KEY
    assert trigger["dedup_key"] == f"gpt-trader/{config.bot_id}/canary/halt"
    assert trigger["payload"]["severity"] == "critical"
    # the routing key and the webhook URL reach only the receivers: never the logs, metrics or files
    written = (tmp_path / "data" / "perps_bot" / "canary" / "metrics.json").read_text()
    assert ROUTING_KEY not in written and receivers.url not in written and ROUTING_KEY not in metrics.text

    # the next UTC day, the operator restarts with --clear-reduce-only: the page is resolved
    sim.clock.advance(86_400)
    sim.venue.step_market()
    bot2 = canary_bot(manager, config)
    bot2.risk.clear_reduce_only()
    bot2.monitoring.open()
    await bot2.start()
    await bot2.run_cycle()
    assert not bot2.halted
    await wait_for(lambda: len(receivers.pagerduty) >= 2, what="the resolve")
    await bot2.shutdown()
    resolve = receivers.pagerduty[1]
    assert resolve["event_action"] == "resolve" and resolve["dedup_key"] == trigger["dedup_key"]
    assert len(receivers.pagerduty) == 2
    assert len(receivers.slack) == 2 and "resolved" in receivers.slack[1]["text"]
