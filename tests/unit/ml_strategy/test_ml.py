"""The direction model: no look-ahead (trained with --until T, it predicts the same up to T whether
its file ends at T or runs past), purged and embargoed walk-forward, refusals of a model the live
loop cannot trust, and the ML strategy in both engines without scikit-learn on the live path."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest
from typer.testing import CliRunner

from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.engine import BarSource, load_bars, run_backtest
from gpt_trader.features.live_trade.ml_model import MlModel, load_model
from gpt_trader.features.live_trade.strategies import get_strategy
from gpt_trader.features.ml_strategy.cli import ml_app
from gpt_trader.features.ml_strategy.train import fold_masks, walk_forward

BITSTAMP = Path("/work/shared/data/market/ohlcv/bitstamp_BTC-USD_1m_2020-01-01.csv.gz")
runner = CliRunner()
CUT_TS = "2020-01-01T16:39:00Z"  # bar 999 of 1440


def _ok(args: list[str]) -> str:
    res = runner.invoke(ml_app, args)
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shared file, and the same file cut after CUT_TS (header + first 1000 bars)."""
    tmp = tmp_path_factory.mktemp("ml")
    with gzip.open(BITSTAMP, "rt") as fh:
        lines = fh.read().splitlines()
    assert len(lines) == 1441
    short = tmp / "bitstamp_BTC-USD_1m_head.csv"
    short.write_text("\n".join(lines[:1001]) + "\n")
    return {"full": BITSTAMP, "short": short, "tmp": tmp}


def test_no_look_ahead_until_t(files: dict[str, Path]) -> None:
    tmp = files["tmp"]
    for name in ("full", "short"):
        _ok(
            [
                "train",
                "--symbol",
                "BTC-USD",
                "--data",
                str(files[name]),
                "--until",
                CUT_TS,
                "--out",
                str(tmp / f"{name}.json"),
            ]
        )
    full, short = load_model(tmp / "full.json"), load_model(tmp / "short.json")
    assert full.sha256 == short.sha256 and full.train_end < CUT_TS and full.until is not None
    rows = {}
    for name in ("full", "short"):
        out = _ok(["predict", "--model", str(tmp / "full.json"), "--data", str(files[name]), "--json"])
        rows[name] = [json.loads(line) for line in out.splitlines()]
    assert len(rows["full"]) == 1440 and len(rows["short"]) == 1000
    assert rows["full"][:1000] == rows["short"]
    assert {r["prediction"] for r in rows["short"][200:]} == {"up", "down"}
    assert all(0.5 <= r["confidence"] <= 1.0 for r in rows["short"] if r["prediction"] is not None)
    # and training on the whole file gives another model: the cut was really a cut
    _ok(["train", "--symbol", "BTC-USD", "--data", str(files["full"]), "--out", str(tmp / "all.json")])
    assert load_model(tmp / "all.json").sha256 != full.sha256


def test_fold_masks_purge_and_embargo() -> None:
    valid = np.ones(1000, dtype=bool)
    for k in range(4):
        train, test, start, end = fold_masks(valid, 4, k, horizon=5, embargo=10)
        assert start == (k + 1) * 200
        assert end == ((k + 2) * 200 if k < 3 else 1000)
        assert not train[start - 15 :].any() and train[: start - 15].all()
        assert test[start:end].all() and not test[:start].any() and not test[end:].any()


def test_walk_forward_report_on_real_data() -> None:
    bars = load_bars(BarSource(symbol="BTC-USD", data_file=BITSTAMP))
    reports = walk_forward(bars, folds=3, horizon=5, embargo=10)
    assert [r.fold for r in reports] == [0, 1, 2]
    for r in reports:
        assert 0.0 <= r.accuracy <= 1.0 and r.log_loss > 0.0 and r.test_bars > 300
        assert r.train_bars < r.test_bars * (r.fold + 1)  # expanding past, minus warm-up and purge
    with pytest.raises(ValueError, match=r"folds must be in \[2, 50\], got 1"):
        walk_forward(bars, folds=1)


def test_refuses_edited_models_and_unknown_features(files: dict[str, Path]) -> None:
    tmp = files["tmp"]
    path = tmp / "edit.json"
    _ok(["train", "--symbol", "BTC-USD", "--data", str(files["short"]), "--out", str(path)])
    model = load_model(path)
    tampered = msgspec.structs.replace(model, intercept=model.intercept + 1.0)
    path.write_bytes(msgspec.json.encode(tampered))
    with pytest.raises(ValueError, match="sha256 does not match"):
        load_model(path)
    alien = msgspec.structs.replace(model, features=[*model.features[:-1], "order_flow_imbalance"]).sealed()
    path.write_bytes(msgspec.json.encode(alien))
    with pytest.raises(ValueError, match=r"features \['order_flow_imbalance'\] cannot be computed here"):
        load_model(path)
    res = runner.invoke(ml_app, ["show", str(path)])
    assert res.exit_code == 2 and "cannot be computed here" in res.output
    with pytest.raises(ValueError, match=r"missing required field `model`; allowed: model \(required\)"):
        get_strategy("ml_direction")


def test_ml_strategy_in_both_engines_and_lean_live_path(files: dict[str, Path]) -> None:
    model_path = files["tmp"] / "strategy.json"
    _ok(["train", "--symbol", "BTC-USD", "--data", str(files["full"]), "--until", CUT_TS, "--out", str(model_path)])
    bars = load_bars(BarSource(symbol="BTC-USD", data_file=BITSTAMP))
    strategy = get_strategy("ml_direction", model=str(model_path), min_confidence="0.52")
    cfg = BacktestConfig()
    fast = run_backtest(bars, strategy, cfg, "fast")
    replay = run_backtest(bars, strategy, cfg, "replay")
    assert fast.signals_source == "decide per bar" and len(fast.trades) >= 3
    assert [(t.entry_time, t.exit_time, t.size, t.entry_price) for t in fast.trades] == [
        (t.entry_time, t.exit_time, t.size, t.entry_price) for t in replay.trades
    ]
    assert abs(fast.final_equity / replay.final_equity - 1.0) < 1e-9
    code = (
        "import sys\nfrom decimal import Decimal\n"
        "from gpt_trader.features.live_trade.strategies import BarWindow, get_strategy\n"
        f"s = get_strategy('ml_direction', model={str(model_path)!r})\n"
        "d = s.decide('BTC-USD', BarWindow.from_closes([7000.0 + (i % 13) * 3 for i in range(200)]), Decimal(0))\n"
        "print(d.action.value, sorted(m for m in ('numpy', 'sklearn', 'scipy', 'pandas',\n"
        "    'gpt_trader.features.ml_strategy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().split(" ", 1)[1] == "[]", out.stdout
    assert isinstance(load_model(model_path), MlModel)


def test_the_bot_refuses_to_start_on_a_model_it_cannot_use(tmp_path: Path) -> None:
    from gpt_trader.orchestration.configuration import ConfigError, ConfigManager

    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "logistic_direction"}')
    overrides = {"strategy.name": "ml_direction", "strategy.params": {"model": str(bad)}}
    with pytest.raises(ConfigError, match=r"ml model .*bad\.json: Object missing required field `features`"):
        ConfigManager(env={}, dotenv_path=None).load("dev", overrides)
