"""`perps-bot backtest` through typer's runner on a small app holding the slice's command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from bt_helpers import OHLCV
from typer.testing import CliRunner

from gpt_trader.features.backtest.cli import backtest_command
from gpt_trader.features.data.cli import data_app

app = typer.Typer()
app.command("backtest")(backtest_command)
app.add_typer(data_app, name="data")
runner = CliRunner()
BITSTAMP = OHLCV + "bitstamp_BTC-USD_1m_2020-01-01.csv.gz"


def _json(args: list[str]) -> dict[str, Any]:
    res = runner.invoke(app, ["backtest", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_json_output_shape_and_engines_agree() -> None:
    args = [
        "--data",
        BITSTAMP,
        "--strategy",
        "sma_cross",
        "--param",
        "fast=10",
        "--param",
        "slow=30",
        "--fee-bps",
        "10",
        "--slippage-bps",
        "2",
        "--initial-cash",
        "5000",
    ]
    fast = _json([*args, "--engine", "fast"])
    replay = _json([*args, "--engine", "replay"])
    assert set(fast) >= {
        "engine",
        "symbol",
        "bars",
        "elapsed_s",
        "initial_cash",
        "final_equity",
        "metrics",
        "trades",
    }
    assert fast["engine"] == "fast" and replay["engine"] == "replay"
    assert fast["symbol"] == "BTC-USD" and fast["bars"] == 1440 and fast["initial_cash"] == 5000.0
    assert set(fast["metrics"]) >= {
        "total_return",
        "cagr",
        "sharpe",
        "sortino",
        "max_drawdown",
        "calmar",
        "win_rate",
        "profit_factor",
        "exposure",
        "fees",
    }
    assert fast["params"] == {"fast": 10, "slow": 30}
    trade = fast["trades"][0]
    assert set(trade) >= {
        "entry_time",
        "exit_time",
        "side",
        "size",
        "entry_price",
        "exit_price",
        "fees",
        "pnl",
    }
    assert trade["entry_time"].endswith("Z")
    assert [
        (t["entry_time"], t["exit_time"], t["size"], t["entry_price"], t["exit_price"]) for t in fast["trades"]
    ] == [(t["entry_time"], t["exit_time"], t["size"], t["entry_price"], t["exit_price"]) for t in replay["trades"]]
    assert abs(fast["final_equity"] / replay["final_equity"] - 1) < 1e-9


def test_start_end_size_qty_and_guards() -> None:
    out = _json(
        [
            "--data",
            BITSTAMP,
            "--start",
            "2020-01-01T06:00Z",
            "--end",
            "2020-01-01T12:00",
            "--size-qty",
            "0.5",
            "--stop-loss-pct",
            "0.2",
            "--max-daily-loss-pct",
            "3",
        ]
    )
    assert out["bars"] == 360
    assert all(t["size"] == 0.5 for t in out["trades"])
    assert all("06:00" <= t["entry_time"][11:16] < "12:00" for t in out["trades"])


def test_report_and_console_summary(tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    res = runner.invoke(app, ["backtest", "--data", BITSTAMP, "--report", str(report)])
    assert res.exit_code == 0, res.output
    assert "final equity" in res.output and "Sharpe" in res.output
    html = report.read_text()
    for part in ("Equity", "Drawdown", "Monthly returns", "Trades", "Max drawdown", "plotly"):
        assert part in html


def test_backtest_from_the_store(tmp_path: Path) -> None:
    root = str(tmp_path)
    res = runner.invoke(
        app, ["data", "import", BITSTAMP, "--symbol", "BTC-USD", "--granularity", "1m", "--store-root", root]
    )
    assert res.exit_code == 0, res.output
    out = _json(["--symbol", "BTC-USD", "--granularity", "1m", "--store-root", root, "--engine", "replay"])
    assert out["bars"] == 1440 and out["symbol"] == "BTC-USD"


def test_errors_exit_2_with_a_clear_message() -> None:
    cases = [
        (["--data", BITSTAMP, "--engine", "slow"], "--engine must be one of ['fast', 'replay']"),
        (["--data", BITSTAMP, "--strategy", "nope"], "unknown strategy 'nope'"),
        (["--data", BITSTAMP, "--param", "speed=3"], "unknown parameter(s) ['speed']"),
        (["--data", BITSTAMP, "--size-pct", "50", "--size-qty", "1"], "not both"),
        (["--data", "/nonexistent.csv"], "no such file"),
        ([], "give --data FILE or --symbol S"),
        (["--data", BITSTAMP, "--risk-profile", "prod"], "needs --engine replay"),
        (["--data", BITSTAMP, "--engine", "replay", "--risk-profile", "nope"], "--risk-profile nope"),
    ]
    for args, message in cases:
        res = runner.invoke(app, ["backtest", *args])
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output, (args, res.output)
