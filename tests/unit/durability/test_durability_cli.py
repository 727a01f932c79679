"""The `replay` and `reconcile` command bodies, as the CLI runs them."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
import typer
from typer.testing import CliRunner

from gpt_trader.features.brokerages.mock import ACCOUNT, MockBroker
from gpt_trader.orchestration.configuration import ConfigManager
from gpt_trader.orchestration.perps_bot import PerpsBot
from gpt_trader.orchestration.reconcile_cli import reconcile_command, run_reconcile
from gpt_trader.orchestration.reconciliation import ReconcileSettings
from gpt_trader.orchestration.replay_cli import replay_command
from gpt_trader.orchestration.service_registry import MOCK_EPOCH, ServiceRegistry, build_registry


def _app(fn: Callable[..., None], name: str) -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.command(name)(fn)
    app.command("unused")(lambda: None)  # keep `name` a subcommand
    return app


def test_replay_command_on_a_recorded_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.chdir(tmp_path)  # the dev profile's store is var/data/dev under the working directory
    cfg = ConfigManager().load("dev", {"symbols": ["BTC-USD", "LTC-USD", "ADA-USD"]})
    registry = build_registry(cfg)
    asyncio.run(PerpsBot(registry).run(cycles=50, interval_s=0.0))
    runner = CliRunner()
    app = _app(replay_command, "replay")
    ok = runner.invoke(app, ["replay", "--session", registry.session_id, "--profile", "dev"])
    assert ok.exit_code == 0, ok.output
    assert "deterministic" in ok.output and registry.session_id in ok.output
    missing = runner.invoke(app, ["replay", "--session", "nope", "--profile", "dev"])
    assert missing.exit_code == 2 and "no events for session 'nope'" in missing.output


def test_reconcile_command_refuses_the_in_memory_mock_venue() -> None:
    result = CliRunner().invoke(_app(reconcile_command, "reconcile"), ["reconcile", "--profile", "dev"])
    assert result.exit_code == 2 and "nothing to reconcile against" in result.output


async def test_run_reconcile_reports_then_accepts_the_exchange_view(tmp_path: Path) -> None:
    cfg = ConfigManager().load("dev", {"symbols": ["BTC-USD", "ETH-USD"]})
    cfg = msgspec.structs.replace(cfg, data_root=str(tmp_path / "data"))
    broker = MockBroker(symbols=cfg.symbols, seed=5, start=MOCK_EPOCH)

    def registry() -> ServiceRegistry:
        return build_registry(cfg, broker=broker, fresh_store=False)

    settings = ReconcileSettings()
    assert await run_reconcile(registry(), settings, accept_exchange=False) == 0  # records the baseline
    broker.engine.fund(ACCOUNT, "BTC", Decimal("0.25"))
    assert await run_reconcile(registry(), settings, accept_exchange=False) == 1
    assert await run_reconcile(registry(), settings, accept_exchange=True) == 0
    assert await run_reconcile(registry(), settings, accept_exchange=False) == 0
    reg = registry()
    assert [(a.symbol, a.size) for a in reg.orders.adjustments()] == [("BTC-USD", Decimal("0.25"))]
    kinds = [
        e["payload"]["kind"]
        for s in reg.events.sessions()
        for e in reg.events.iter_events(session_id=s)
        if e["kind"] == "reconcile_correction"
    ]
    assert kinds == ["baseline_recorded", "accepted_exchange_position"]
