"""`perps-bot optimize` end to end on the shared real data: JSON, storage, grid, report, walk-forward."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import yaml
from opt_helpers import BTC_1H, BTC_5M, invoke, run_json

from gpt_trader.features.live_trade.strategies import get_strategy


def test_tpe_json_report_and_profile_snippet(tmp_path: Path) -> None:
    db, html = tmp_path / "s.db", tmp_path / "r.html"
    out = run_json(
        [
            "--strategy", "sma_cross", "--data", BTC_5M, "--space", "fast=5..30,slow=40..120",
            "--trials", "30", "--seed", "5", "--storage", f"sqlite:///{db}", "--report", str(html),
        ]
    )  # fmt: skip
    assert out["trials"] == 30 and out["trials_this_run"] == 30 and out["interrupted"] is False
    assert out["elapsed_s"] > 0 and out["objective"] == "sharpe"
    values = [t["value"] for t in out["top_trials"] if t["value"] is not None]
    assert out["best_value"] == max(values) and out["top_trials"][0]["params"] == out["best_params"]
    assert 5 <= out["best_params"]["fast"] <= 30 and 40 <= out["best_params"]["slow"] <= 120
    snippet = yaml.safe_load(out["profile_snippet"])
    assert snippet["strategy"] == {"name": "sma_cross", "params": out["best_params"]}
    get_strategy("sma_cross", **snippet["strategy"]["params"])  # the snippet is a valid configuration
    over = out["overfitting"]
    assert 0.0 <= over["pbo"] <= 1.0 and over["pbo_configs"] >= 2 and over["pbo_blocks"] >= 2
    assert over["deflated_sharpe"] is None or 0.0 <= over["deflated_sharpe"] <= 1.0
    with sqlite3.connect(db) as con:
        stored = con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    assert stored == 30
    page = html.read_text()
    assert "Optimization History" in page and "Hyperparameter Importances" in page and "mean of trials" in page
    assert "fast: " in page  # the snippet


def test_grid_runs_every_point_once_and_stops(tmp_path: Path) -> None:
    args = ["--data", BTC_5M, "--method", "grid", "--space", "fast=5..15:5,slow=40|80", "--trials", "100"]
    out = run_json([*args, "--storage", f"sqlite:///{tmp_path / 'g.db'}"])
    assert out["trials"] == 6 and "grid exhausted" in out["notes"]
    assert sorted((t["params"]["fast"], t["params"]["slow"]) for t in out["top_trials"]) == [
        (f, s) for f in (5, 10, 15) for s in (40, 80)
    ]


def test_an_existing_study_is_not_overwritten_and_bad_input_is_named(tmp_path: Path) -> None:
    args = ["--data", BTC_5M, "--space", "fast=5..9,slow=40..60", "--trials", "3", "--storage"]
    run_json([*args, f"sqlite:///{tmp_path / 'e.db'}"])
    again = invoke([*args, f"sqlite:///{tmp_path / 'e.db'}"])
    assert again.exit_code == 2 and "already exists" in again.output and "--resume" in again.output
    other = invoke([*args, f"sqlite:///{tmp_path / 'e.db'}", "--resume", "--objective", "sortino"])
    assert other.exit_code == 2 and "no study" in other.output  # another objective is another study
    bad = invoke(["--data", BTC_5M, "--space", "fast=0..9", "--storage", f"sqlite:///{tmp_path / 'b.db'}"])
    assert bad.exit_code == 2 and "fast=0 is outside" in bad.output
    wf = invoke(["--data", BTC_5M, "--walk-forward", "2", "--storage", f"sqlite:///{tmp_path / 'w.db'}"])
    assert wf.exit_code == 2 and "--train-days" in wf.output


def test_walk_forward_report_on_real_data(tmp_path: Path) -> None:
    html = tmp_path / "wf.html"
    out = run_json(
        [
            "--strategy", "sma_cross", "--data", BTC_1H, "--space", "fast=3..40,slow=20..200", "--trials", "25",
            "--seed", "2", "--walk-forward", "4", "--train-days", "180", "--test-days", "90",
            "--storage", f"sqlite:///{tmp_path / 'wf.db'}", "--report", str(html),
        ]
    )  # fmt: skip
    wf = out["walk_forward"]
    assert len(wf["folds"]) == 4
    starts = [f["test_start"] for f in wf["folds"]]
    assert starts == sorted(starts) and starts[0].startswith("2017-12-28")  # 180 days after 2017-07-01
    for f in wf["folds"]:
        assert f["trials"] == 25 and f["in_sample"] is not None and f["best_params"]["fast"] < f["best_params"]["slow"]
    assert wf["stitched_oos_return"] is not None and wf["mean_in_sample"] is not None
    page = html.read_text()
    assert "in-sample vs out-of-sample" in page and "stitched out-of-sample equity" in page
