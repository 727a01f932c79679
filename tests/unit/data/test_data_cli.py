"""`perps-bot data ...` commands, driven through typer's runner on the slice's own app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpt_trader.features.data.cli import data_app
from gpt_trader.features.data.store import CandleStore

OHLCV = Path("/work/shared/data/market/ohlcv")
runner = CliRunner()

FILES = [
    ("binance-usdm_BTCUSDT_5m_2023-01-02_2023-02-09.csv.gz", "BTCUSDT", "5m"),
    ("binance_BTCUSDT_multi-timeframe_2018-04-28.csv.gz", "BTCUSDT", "1m"),
    ("bitstamp_BTC-USD_1m_2020-01-01.csv.gz", "BTC-USD", "1m"),
    ("coinbase_BTC-USD_1h_2017-07-01_2018-12-31.csv.gz", "BTC-USD", "1h"),
    ("ftx_BTC-PERP_1m_2021-12-31_2022-02-01.csv.gz", "BTC-PERP", "1m"),
]


@pytest.mark.parametrize(("name", "symbol", "g"), FILES)
def test_import_every_shared_file(tmp_path: Path, name: str, symbol: str, g: str) -> None:
    res = runner.invoke(
        data_app,
        [
            "import",
            str(OHLCV / name),
            "--symbol",
            symbol,
            "--granularity",
            g,
            "--source",
            "shared",
            "--store-root",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "imported" in res.output
    assert len(CandleStore(tmp_path).read("shared", symbol, g)) > 400


def test_import_unmappable_exits_2_with_columns(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("t,x\n1,2\n")
    res = runner.invoke(
        data_app,
        ["import", str(f), "--symbol", "BTC-USD", "--granularity", "1m", "--store-root", str(tmp_path)],
    )
    assert res.exit_code == 2
    assert "columns found: ['t', 'x']" in res.output


def test_gaps_json_and_synth(tmp_path: Path) -> None:
    root = ["--store-root", str(tmp_path)]
    res = runner.invoke(
        data_app, ["import", str(OHLCV / FILES[1][0]), "--symbol", "BTCUSDT", "--granularity", "1m", *root]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(data_app, ["gaps", "--symbol", "BTCUSDT", "--granularity", "1m", "--json", *root])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["missing_bars"] == 1 and report["bars"] == 502 and report["source"] == "import"
    res = runner.invoke(
        data_app,
        ["synth", "--symbol", "ETH-USD", "--granularity", "5m", "--bars", "200", "--seed", "3", *root],
    )
    assert res.exit_code == 0, res.output
    a = CandleStore(tmp_path).read("synthetic", "ETH-USD", "5m")
    res = runner.invoke(
        data_app,
        [
            "synth",
            "--symbol",
            "ETH-USD",
            "--granularity",
            "5m",
            "--bars",
            "200",
            "--seed",
            "3",
            "--source",
            "again",
            *root,
        ],
    )
    b = CandleStore(tmp_path).read("again", "ETH-USD", "5m")
    assert len(a) == 200 and a.equals(b)  # same seed, same market
    res = runner.invoke(data_app, ["gaps", "--symbol", "NONE", "--granularity", "1m", *root])
    assert res.exit_code == 2 and "no stored series" in res.output
