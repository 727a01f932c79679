"""Market regimes on the shared real data: both detectors, the online (live) form equals the research
timeline bar for bar, nothing after a bar changes its regime, the exported HMM round-trips, and the
`perps-bot regime --json` shape."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import msgspec
import pytest
import typer
from typer.testing import CliRunner

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.engine import BarSource, load_bars
from gpt_trader.features.backtest.strategy_signals import BarColumns
from gpt_trader.features.live_trade.regime import (
    HmmDetector,
    HmmModel,
    Regime,
    RuleDetector,
    load_hmm,
    make_detector,
)
from gpt_trader.features.market_regime.cli import regime_command
from gpt_trader.features.market_regime.fit import fit_hmm, label_states
from gpt_trader.features.market_regime.series import regime_stats, regime_timeline

OHLCV = "/work/shared/data/market/ohlcv/"
HOURLY = OHLCV + "coinbase_BTC-USD_1h_2017-07-01_2018-12-31.csv.gz"


@cache
def hourly() -> Bars:
    return load_bars(BarSource(symbol="BTC-USD", data_file=Path(HOURLY)))


@cache
def small_hmm() -> HmmModel:
    return fit_hmm([hourly().head(4000)], iterations=30, filter_bars=24)


def test_rules_on_real_hourly_data_find_every_regime() -> None:
    bars = hourly()
    timeline = regime_timeline(bars, RuleDetector())
    stats = regime_stats(bars.close.tolist(), timeline)
    assert set(stats) == {r.value for r in Regime if r is not Regime.UNKNOWN}
    assert abs(sum(s["share"] for s in stats.values()) - 1.0) < 1e-12
    assert timeline[: RuleDetector().need - 1] == [Regime.UNKNOWN] * (RuleDetector().need - 1)
    # the crash bars are followed, on average, by the worst bars; high volatility by the widest ones
    assert stats["crash"]["mean_return"] < stats["ranging"]["mean_return"]
    assert stats["high_volatility"]["volatility"] > 1.5 * stats["ranging"]["volatility"]


@pytest.mark.parametrize("kind", ["rules", "hmm"])
def test_online_detector_equals_the_timeline_and_ignores_the_future(kind: str) -> None:
    bars = hourly().head(3000)
    det = RuleDetector() if kind == "rules" else HmmDetector(small_hmm())
    full = regime_timeline(bars, det)
    cols = BarColumns(bars, det.need)
    for t in (det.need - 2, det.need - 1, 700, 1500, 2999):
        assert det.classify(cols.window_at(t)) is full[t], t
    cut = 1777
    assert regime_timeline(bars.head(cut), det) == full[:cut]


def test_hmm_export_round_trip_and_refusals(tmp_path: Path) -> None:
    model = small_hmm()
    assert sorted(set(model.labels), key=str) == sorted(set(model.labels), key=str)  # labels are regimes
    assert Regime.TREND_UP in model.labels and Regime.TREND_DOWN in model.labels
    path = tmp_path / "regime.json"
    path.write_bytes(msgspec.json.encode(model))
    loaded = load_hmm(path)
    assert loaded == model and loaded.digest() == model.digest()
    assert make_detector("hmm", path).need == model.features.need + model.filter_bars - 1
    bad = msgspec.structs.replace(model, feature_names=["trend_z", "rsi"])
    path.write_bytes(msgspec.json.encode(bad))
    with pytest.raises(ValueError, match="are not the live ones"):
        load_hmm(path)
    with pytest.raises(ValueError, match="needs a model file"):
        make_detector("hmm")
    with pytest.raises(ValueError, match=r"unknown regime detector 'kmeans'; allowed: \['rules', 'hmm'\]"):
        make_detector("kmeans")


def test_state_labels_follow_the_means() -> None:
    # (trend_z, vol_ratio, ...) per state
    labels = label_states([[0.1, 1.0], [-1.0, 1.1], [1.2, 0.9], [-2.0, 2.5]])
    assert labels == [Regime.RANGING, Regime.TREND_DOWN, Regime.TREND_UP, Regime.CRASH]
    assert label_states([[0.0, 3.0], [1.0, 1.0], [-1.0, 1.0]])[0] is Regime.HIGH_VOL


def test_regime_command_json_shape() -> None:
    app = typer.Typer()
    app.command("regime")(regime_command)
    app.command("other")(lambda: None)
    res = CliRunner().invoke(
        app, ["regime", "--symbol", "BTC-USD", "--data", OHLCV + "bitstamp_BTC-USD_1m_2020-01-01.csv.gz", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out["regimes"]["ranging"]) == {"share", "mean_return", "volatility", "bars"}
    assert len(out["timeline"]) == 1440 and out["timeline"][-1][0] == "2020-01-01T23:59:00Z"
    assert {name for _, name in out["timeline"]} <= {r.value for r in Regime}
    bad = CliRunner().invoke(app, ["regime", "--symbol", "BTC-USD", "--data", HOURLY, "--detector", "svm"])
    assert bad.exit_code == 2 and "--detector must be 'rules' or 'hmm', got 'svm'" in bad.output


def test_online_hmm_needs_no_research_library(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "regime.json"
    path.write_bytes(msgspec.json.encode(small_hmm()))
    code = (
        "import sys\nfrom gpt_trader.features.live_trade.regime import RegimeTracker, make_detector\n"
        f"t = RegimeTracker(make_detector('hmm', {str(path)!r}))\n"
        "for i in range(400):\n"
        "    c = 100.0 + (i % 17) - (i % 5)\n"
        "    t.add_bar('X', (c, c + 1.0, c - 1.0, c, 10.0 + i % 3))\n"
        "regime, _ = t.update('X')\n"
        "heavy = ('numpy', 'sklearn', 'hmmlearn', 'scipy', 'gpt_trader.features.market_regime')\n"
        "print(regime.value, sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 1)
    assert out[0] in {r.value for r in small_hmm().labels} and out[1].strip() == "[]"
