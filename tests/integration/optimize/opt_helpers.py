"""Shared pieces of the optimize tests: the shared real data files and a JSON run of the CLI."""

from __future__ import annotations

import json
from typing import Any

import typer
from typer.testing import CliRunner

from gpt_trader.features.optimize.cli import optimize_command

OHLCV = "/work/shared/data/market/ohlcv/"
BTC_5M = OHLCV + "binance-usdm_BTCUSDT_5m_2023-01-02_2023-02-09.csv.gz"  # 38 days
BTC_1H = OHLCV + "coinbase_BTC-USD_1h_2017-07-01_2018-12-31.csv.gz"  # 18 months

app = typer.Typer()
app.command("optimize")(optimize_command)
runner = CliRunner()


def invoke(args: list[str]) -> Any:
    return runner.invoke(app, [*args, "--no-progress"])  # a one-command app takes no command name


def run_json(args: list[str]) -> dict[str, Any]:
    res = invoke([*args, "--json"])
    assert res.exit_code == 0, res.output
    out: dict[str, Any] = json.loads(res.stdout)
    return out
