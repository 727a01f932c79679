"""`perps-bot analyze` on the shared real data: per-symbol statistics, correlation, regimes, funding, report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from gpt_trader.features.analyze.cli import analyze_command
from gpt_trader.features.analyze.stats import longest_drawdown_days

OHLCV = "/work/shared/data/market/ohlcv/"
FUNDING = "/work/shared/data/market/funding/BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv.gz"
BTC_1H = OHLCV + "coinbase_BTC-USD_1h_2017-07-01_2018-12-31.csv.gz"
PERP_1M = OHLCV + "ftx_BTC-PERP_1m_2021-12-31_2022-02-01.csv.gz"

app = typer.Typer()
app.command()(analyze_command)
runner = CliRunner()


def test_json_report_regimes_funding_and_correlation(tmp_path: Path) -> None:
    html = tmp_path / "a.html"
    res = runner.invoke(
        app,
        [
            "--symbols", "BTC-USD,BTC-USD-COPY,BTC-PERP", "--data", BTC_1H, "--data", BTC_1H, "--data", PERP_1M,
            "--funding", f"BTC-PERP={FUNDING}", "--report", str(html), "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    btc, copy, perp = out["symbols"]
    assert copy["total_return"] == btc["total_return"] and copy["symbol"] == "BTC-USD-COPY"
    assert btc["bars"] > 13_000 and btc["start"].startswith("2017-07-01")
    assert btc["max_drawdown"] > 0.5  # the 2018 bear market
    assert 0.0 < btc["annual_volatility"] < 3.0 and btc["longest_drawdown_days"] > 100
    assert abs(sum(btc["regime_share"].values()) - 1.0) < 1e-9 and btc["main_regime"] in btc["regime_share"]
    assert perp["funding_settlements"] > 80 and perp["funding_mean"] is not None  # 8h settlements over a month
    corr = out["correlation"]
    assert corr["BTC-USD"]["BTC-USD-COPY"] == pytest.approx(1.0)
    assert corr["BTC-USD"]["BTC-PERP"] is None  # 2017-18 and 2022 share no day
    page = html.read_text()
    for title in ("Distribution of daily returns", "Rolling 30-day volatility", "Correlation of daily returns",
                  "Drawdown profile", "Regime timeline: BTC-PERP", "Funding history: BTC-PERP"):  # fmt: skip
        assert title in page


def test_terminal_table_and_bad_input(tmp_path: Path) -> None:
    res = runner.invoke(app, ["--symbols", "BTC-USD", "--data", BTC_1H, "--no-regimes"])
    assert res.exit_code == 0 and "analyze: per symbol" in res.output and "one symbol" in res.output
    bad = runner.invoke(app, ["--symbols", "A,B", "--data", BTC_1H])
    assert bad.exit_code == 2 and "one file per symbol (2 symbols, 1 files)" in bad.output
    twice = runner.invoke(app, ["--symbols", "A,A", "--data", BTC_1H, "--data", BTC_1H])
    assert twice.exit_code == 2 and "twice" in twice.output
    fund = runner.invoke(app, ["--symbols", "A", "--data", BTC_1H, "--funding", "B=x.csv"])
    assert fund.exit_code == 2 and "SYMBOL=FILE" in fund.output


def test_longest_drawdown() -> None:
    idx = pd.date_range("2024-01-01", periods=6, freq="1D", tz="UTC")
    close = pd.Series([10.0, 12.0, 9.0, 11.0, 12.5, 11.0], index=idx)
    assert longest_drawdown_days(close) == 2.0  # below 12 from day 2 until day 4
