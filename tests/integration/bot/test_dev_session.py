"""End-to-end dev sessions on the MockBroker: the bot trades, within the configured sizes, deterministically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.features.brokerages.core.interfaces import OrderStatus
from gpt_trader.orchestration.configuration import BotConfig, ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.service_registry import build_registry


def _config(tmp_path: Path, **overrides: object) -> BotConfig:
    base = {
        "data_root": str(tmp_path / "data"),
        "log_dir": str(tmp_path / "logs"),
        "cycles": 150,
        "cycle_interval_s": 0.001,
    }
    return ConfigManager(env={}, dotenv_path=None).load("dev", {**base, **overrides})


async def _run(config: BotConfig) -> PerpsBot:
    bot = PerpsBot(build_registry(config))
    await bot.run(cycles=config.cycles, interval_s=0)
    return bot


async def test_dev_session_trades_within_configured_sizes(tmp_path: Path) -> None:
    config = _config(tmp_path)
    bot = await _run(config)
    orders = bot.registry.orders.list_orders(session_id=bot.registry.session_id)
    fills = bot.registry.orders.fills()
    assert any(o.status is OrderStatus.FILLED for o in orders), "the dev session should fill at least one order"
    assert fills
    sizes = config.sizing.sizes
    for o in orders:
        # an entry is exactly the configured size; a close is never more than the position it closes
        assert o.size <= sizes[o.symbol] * 1, (o.symbol, o.size)
        assert o.status.is_terminal, f"order {o.client_order_id} left {o.status}"
    for f in fills:
        assert f.size <= sizes[f.symbol]
    # the ledger is flat or long exactly one configured unit per symbol
    for sym, led in bot.positions.ledgers.items():
        assert led.size in (Decimal(0), sizes[sym])
    # metrics and health were written
    assert (config.metrics_dir / "metrics.json").is_file()
    assert (config.health_path).is_file()
    assert bot.registry.events.count("fill") == len(fills)


async def test_same_seed_same_fills(tmp_path: Path) -> None:
    a = await _run(_config(tmp_path / "a", cycles=80))
    b = await _run(_config(tmp_path / "b", cycles=80))

    def key(bot: PerpsBot) -> list[tuple[str, str, Decimal, Decimal, Decimal]]:
        return [(f.symbol, f.side.value, f.size, f.price, f.fee) for f in bot.registry.orders.fills()]

    assert key(a) and key(a) == key(b)
    c = await _run(_config(tmp_path / "c", cycles=80, **{"mock.seed": 7}))
    assert key(c) != key(a)


async def test_dry_run_sends_nothing(tmp_path: Path) -> None:
    bot = await _run(_config(tmp_path, dry_run=True))
    assert bot.registry.orders.list_orders() == []
    assert bot.registry.events.count("would_send") >= 1
    balances = {b.asset: b.total for b in await bot.broker.list_balances()}
    assert balances.get("BTC", Decimal(0)) == 0


@pytest.mark.slow
def test_sigterm_finishes_cycle_and_exits_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINBASE_", "RISK_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpt_trader.cli", "--profile", "dev", "--cycles", "100000", "--interval", "0.05"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    health = tmp_path / "var/data/perps_bot/dev/health.json"
    deadline = time.monotonic() + 60
    while not health.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert health.exists(), "bot did not start"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "Session" in out and "TOTAL" in out
    assert '"status"' in health.read_text()


async def test_every_decision_is_journaled_holds_included(tmp_path: Path) -> None:
    bot = await _run(_config(tmp_path, cycles=60))
    journaled = list(bot.registry.events.iter_events(kind="decision"))
    made = sum(sum(counts.values()) for counts in bot.decisions.values())
    assert made > 0 and len(journaled) == made
    assert any(e["payload"]["action"] == "HOLD" for e in journaled)
