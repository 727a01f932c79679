"""MonitorPublisher on real bots: the trading state it reads, the health it publishes (200 / 503 and why),
the alerts it raises and resolves on state changes (Slack for reduce-only and stale data, a page for a
refused start), and open alerts that survive a restart so the next process can resolve them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alert_receivers import AlertReceivers, wait_for
from monitor_support import canary_bot, canary_config, sim_env, small_sim

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.core.interfaces import BrokerageError
from gpt_trader.features.brokerages.mock import MockBroker
from gpt_trader.features.live_trade.risk.manager import AccountSnapshot
from gpt_trader.orchestration.configuration import ConfigManager
from gpt_trader.orchestration.monitoring import ALERTS_STATE_KEY, trading_state_of
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.service_registry import build_registry

pytestmark = pytest.mark.integration


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    async for s in small_sim(seed=9, tick_interval_s=3600, usd="1000"):
        yield s


def _dev_bot(tmp_path: Path, receivers: AlertReceivers, **overrides: object) -> PerpsBot:
    manager = ConfigManager(env=receivers.env(), dotenv_path=None)
    base = {
        "data_root": str(tmp_path / "data"),
        "log_dir": str(tmp_path / "logs"),
        "symbols": ["BTC-USD", "ETH-USD"],
        "alerts.enabled": True,
    }
    config = manager.load("dev", {**base, **overrides})
    return PerpsBot(build_registry(config, alert_secrets=manager.alert_secrets(), fresh_store=False))


def _trip_api_errors(bot: PerpsBot) -> None:
    """Five failed venue calls in a row, then the guards look: the api_errors guard latches REDUCING."""
    for _ in range(bot.risk.config.max_consecutive_api_errors):
        bot.risk.record_api_call(False, endpoint="list_balances")
    equity = bot.last_equity
    assert equity is not None
    snapshot = AccountSnapshot(
        now=bot.broker.now(),
        equity=equity,
        cash=equity,
        positions={},
        quotes=dict(bot.quotes),
        books=dict(bot.books),
        open_orders=[],
        products=dict(bot.products),
    )
    bot.risk.evaluate(snapshot)


async def _cycle(bot: PerpsBot) -> None:
    """The market moves a minute, then a cycle: its marks are fresh when the publisher looks."""
    broker = bot.broker
    assert isinstance(broker, MockBroker)
    await broker.advance_time(60)
    await bot.run_cycle()


async def test_reduce_only_and_stale_data_go_to_slack_and_resolve(tmp_path: Path, receivers: AlertReceivers) -> None:
    bot = _dev_bot(tmp_path, receivers, **{"alerts.stale_grace_s": 0.2})
    bot.monitoring.open()
    await bot.start()
    await _cycle(bot)
    assert trading_state_of(bot).state == "ACTIVE"
    assert bot.monitoring.board.current()[0] == 200
    assert bot.metrics.gauge("trading.state", {"state": "ACTIVE"}) == 1.0

    bot.monitor.report_stale("ETH-USD", 999.0)  # the feed says ETH has been silent (between cycles)
    bot.monitoring.publish(bot, None, None)
    code, doc = bot.monitoring.board.current()
    assert code == 503 and doc["status"] == "stale" and "ETH-USD" in doc["reason"]
    assert bot.metrics.gauge("stream.stale", {"symbol": "ETH-USD"}) == 1.0
    assert bot.monitoring.alerter.active() == {}  # within the grace: /health says so, nobody is told yet
    await asyncio.sleep(0.25)
    bot.monitoring.publish(bot, None, None)
    await wait_for(lambda: len(receivers.slack) == 1, what="the stale-data message")
    assert "stale market data: ETH-USD" in receivers.slack[0]["text"]

    _trip_api_errors(bot)
    await _cycle(bot)  # a fresh mark for ETH arrives in this cycle: the stale alert resolves
    view = trading_state_of(bot)
    assert view.state == "REDUCING" and "api_errors" in view.reason
    code, doc = bot.monitoring.board.current()
    assert code == 200 and doc["status"] == "reducing"
    await wait_for(lambda: len(receivers.slack) == 3, what="reduce-only + stale resolved")
    texts = [m["text"] for m in receivers.slack]
    assert any("REDUCING" in t for t in texts) and any("resolved: stale market data" in t for t in texts)
    assert receivers.pagerduty == []  # nothing here pages

    bot.risk.clear_reduce_only()
    await _cycle(bot)
    await wait_for(lambda: len(receivers.slack) == 4, what="reduce-only resolved")
    assert "resolved: trading REDUCING" in receivers.slack[3]["text"]
    await bot.shutdown()


async def test_open_alerts_survive_a_restart(tmp_path: Path, receivers: AlertReceivers) -> None:
    bot = _dev_bot(tmp_path, receivers)
    bot.monitoring.open()
    await bot.start()
    _trip_api_errors(bot)
    await _cycle(bot)
    await wait_for(lambda: len(receivers.slack) == 1, what="the reduce-only message")
    await bot.shutdown()
    saved = bot.registry.state.get(ALERTS_STATE_KEY)
    assert saved is not None and set(saved["active"]) == {"reduce_only"}

    again = _dev_bot(tmp_path, receivers)  # same store: the latch and the open alert are both restored
    again.monitoring.open()
    await again.start()
    await _cycle(again)
    assert trading_state_of(again).state == "REDUCING"
    assert len(receivers.slack) == 1  # still reducing: not announced twice
    again.risk.clear_reduce_only()
    await _cycle(again)
    await wait_for(lambda: len(receivers.slack) == 2, what="the resolve from the new process")
    assert "resolved" in receivers.slack[1]["text"]
    await again.shutdown()


async def test_refused_start_pages_and_health_says_why(
    sim: ExchangeSimulator, tmp_path: Path, receivers: AlertReceivers
) -> None:
    manager = ConfigManager(env=sim_env(sim, **receivers.env()), dotenv_path=None)
    bot = canary_bot(manager, canary_config(manager, tmp_path, symbols=["BTC-USD", "SOL-USD"]))
    with pytest.raises(BrokerageError, match="does not list"):
        await bot.run(cycles=1)
    code, doc = bot.monitoring.board.current()
    assert code == 503 and doc["status"] == "stopped"  # the process is on its way out
    assert len(receivers.pagerduty) == 1 and receivers.pagerduty[0]["dedup_key"].endswith("/refused_start")
    assert "SOL-USD" in receivers.pagerduty[0]["payload"]["summary"]
    health = (tmp_path / "data" / "perps_bot" / "canary" / "health.json").read_text()
    assert '"status": "refused"' in health and "SOL-USD" in health


async def test_operator_rebase_is_announced_once(tmp_path: Path, receivers: AlertReceivers) -> None:
    bot = _dev_bot(tmp_path, receivers)
    bot.monitoring.open()
    await bot.start()
    await _cycle(bot)
    bot.risk.rebase_daily_loss()  # an explicit operator action: journaled by the risk manager, heard here
    await wait_for(lambda: len(receivers.slack) == 1, what="the operator-action message")
    assert "operator action: rebase_daily_loss" in receivers.slack[0]["text"]
    assert bot.monitoring.alerter.active() == {}  # a one-off: nothing to resolve later
    bot.risk.rebase_daily_loss()
    await wait_for(lambda: len(receivers.slack) == 2, what="a second, separate announcement")
    await bot.shutdown()


async def test_error_burst_goes_to_slack(tmp_path: Path, receivers: AlertReceivers) -> None:
    bot = _dev_bot(tmp_path, receivers, **{"alerts.error_burst_per_min": 3})
    bot.monitoring.open()
    await bot.start()
    await _cycle(bot)
    for _ in range(3):  # three venue calls fail (what PerpsBot._call records on a BrokerageError)
        bot.metrics.inc("api.errors")
    bot.monitoring.publish(bot, None, None)
    await wait_for(lambda: len(receivers.slack) == 1, what="the error-burst message")
    assert "3 failed venue calls in the last minute" in receivers.slack[0]["text"]
    assert receivers.pagerduty == []
    await bot.shutdown()


async def test_refused_reconciliation_pages_once_and_preflight_sees_it_first(
    sim: ExchangeSimulator, tmp_path: Path, receivers: AlertReceivers
) -> None:
    from gpt_trader.orchestration.preflight import Preflight
    from gpt_trader.orchestration.reconciliation import ReconciliationRefusedError

    manager = ConfigManager(env=sim_env(sim, **receivers.env()), dotenv_path=None)
    config = canary_config(manager, tmp_path, symbols=["BTC-USD", "ETH-USD"])
    first = canary_bot(manager, config)
    await first.run(cycles=1)  # records the reconciliation baseline
    sim.fund("ETH", "0.25")  # holdings the bot cannot explain appear at the venue

    checks = {c.name: c for c in await Preflight(config, manager.credentials()).run()}
    assert checks["reconciliation"].status == "fail"
    assert (
        "a start would refuse to trade" in checks["reconciliation"].detail and "ETH" in checks["reconciliation"].detail
    )

    bot = canary_bot(manager, config)
    with pytest.raises(ReconciliationRefusedError):
        await bot.run(cycles=1)
    assert bot.halted  # the refusal is a HALTED trading state too ...
    assert len(receivers.pagerduty) == 1  # ... but one event, one page
    assert receivers.pagerduty[0]["dedup_key"].endswith("/refused_start")
    assert len(receivers.slack) == 1 and "refused to start" in receivers.slack[0]["text"]


async def test_a_port_in_use_is_alerted_and_trading_goes_on(tmp_path: Path, receivers: AlertReceivers) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        bot = _dev_bot(tmp_path, receivers, **{"monitoring.metrics_port": port})
        bot.monitoring.open()
        assert bot.monitoring.server is None
        assert bot.metrics.counter("monitor.endpoint_failures") == 1
        await bot.start()
        await _cycle(bot)  # trading goes on without the endpoint
        assert bot.cycle == 1
        await wait_for(lambda: len(receivers.slack) == 1, what="the endpoint message")
        assert f"metrics endpoint 127.0.0.1:{port} down" in receivers.slack[0]["text"]
        await bot.shutdown()
    finally:
        taken.close()
    again = _dev_bot(tmp_path, receivers, **{"monitoring.metrics_port": port})
    again.monitoring.open()  # the port is free now: the next process resolves what the last one raised
    assert again.monitoring.server is not None
    await wait_for(lambda: len(receivers.slack) == 2, what="the resolve")
    assert "resolved: metrics endpoint" in receivers.slack[1]["text"]
    again.monitoring.close()
