"""The simulator's INTX access gate: refusal shapes, config validation, the CLI flags."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from gpt_trader.exchange_sim import ExchangeSimulator, cli
from gpt_trader.exchange_sim.intx import NO_INTX_ORDER_REASON, IntxGate
from gpt_trader.exchange_sim.wire import OrderReject
from gpt_trader.features.brokerages.core.interfaces import AuthError, NotFoundError
from gpt_trader.features.brokerages.core.products import default_products

PRODUCTS = {p.symbol: p for p in default_products()}


def test_gate_with_access_lets_everything_through() -> None:
    gate = IntxGate()
    gate.check_portfolio("p-1")
    gate.check_order(PRODUCTS["BTC-PERP-INTX"])
    gate.check_order(PRODUCTS["BTC-USD"])


def test_gate_without_access_refuses_perps_only() -> None:
    gate = IntxGate(access=False)
    with pytest.raises(AuthError, match="Missing required scopes"):
        gate.check_portfolio("p-1")
    with pytest.raises(OrderReject) as rej:
        gate.check_order(PRODUCTS["BTC-PERP-INTX"])
    assert rej.value.reason == NO_INTX_ORDER_REASON and "BTC-PERP-INTX" in rej.value.message
    gate.check_order(PRODUCTS["BTC-USD"])
    gate.configure(False, "not_found")
    with pytest.raises(NotFoundError, match="portfolio p-1 not found"):
        gate.check_portfolio("p-1")
    assert gate.snapshot() == {"access": False, "denial": "not_found"}


def test_bad_denial_names_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="intx_denial='403' is not allowed; allowed: scopes, not_found"):
        IntxGate(denial="403")
    with pytest.raises(ValueError, match="allowed: scopes, not_found"):
        ExchangeSimulator(intx_denial="nope", synthetic=False)
    sim = ExchangeSimulator(intx_access=False, intx_denial="not_found", synthetic=False)
    assert sim.venue.intx.snapshot() == {"access": False, "denial": "not_found"}


def _invoke(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> tuple[Any, list[cli.SimArgs]]:
    seen: list[cli.SimArgs] = []
    monkeypatch.setattr(cli, "run_simulator", seen.append)
    app = typer.Typer()
    app.command()(cli.exchange_sim_command)
    return CliRunner().invoke(app, args, env={"COLUMNS": "200", "NO_COLOR": "1"}), seen


def test_cli_flags_reach_the_simulator_args(monkeypatch: pytest.MonkeyPatch) -> None:
    res, seen = _invoke(monkeypatch, ["--port", "0"])
    assert res.exit_code == 0, res.output
    assert seen[0].intx_access is True and seen[0].intx_denial == "scopes"
    res, seen = _invoke(monkeypatch, ["--port", "0", "--no-intx-access", "--intx-denial", "not_found"])
    assert res.exit_code == 0, res.output
    assert seen[0].intx_access is False and seen[0].intx_denial == "not_found"
    res, seen = _invoke(monkeypatch, ["--intx-denial", "teapot"])
    assert res.exit_code != 0 and seen == []
    assert "allowed: scopes, not_found" in res.output
