"""The strategy file the "Writing a strategy" page shows loads by path and backtests, with both
engines agreeing trade for trade, through the same commands the page gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpt_trader.cli import app
from gpt_trader.features.live_trade.strategies.base import get_strategy, param_space

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = "docs/examples/breakout.py:Breakout"


def test_the_page_includes_the_tested_file() -> None:
    page = (ROOT / "docs" / "strategy.md").read_text()
    assert '--8<-- "breakout.py"' in page
    assert EXAMPLE in page


def test_example_loads_by_path_with_bounded_params(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    strategy = get_strategy(EXAMPLE, channel=30)
    assert strategy.params == {"channel": 30, "atr_period": 14, "atr_exit": 2.0}
    assert strategy.history_needed == 31
    space = param_space(type(strategy.p))
    assert (space["channel"].low, space["channel"].high) == (5, 500)
    with pytest.raises(ValueError, match="channel"):
        get_strategy(EXAMPLE, channel=2)


@pytest.mark.slow
def test_page_commands_backtest_the_example_with_both_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    store = str(tmp_path / "market")
    synth = runner.invoke(
        app,
        ["data", "synth", "--symbol", "BTC-USD", "--granularity", "1h", "--bars", "800", "--store-root", store],
    )
    assert synth.exit_code == 0, synth.output
    results = {}
    for engine in ("fast", "replay"):
        args = ["backtest", "--symbol", "BTC-USD", "--granularity", "1h", "--source", "synthetic"]
        args += ["--store-root", store, "--strategy", EXAMPLE, "--param", "channel=30", "--engine", engine, "--json"]
        out = runner.invoke(app, args)
        assert out.exit_code == 0, out.output
        results[engine] = json.loads(out.output[out.output.index("{") :])
    fast, replay = results["fast"], results["replay"]
    assert fast["strategy"] == replay["strategy"]
    assert len(fast["trades"]) > 0
    keys = ("entry_time", "exit_time", "side", "size", "entry_price", "exit_price")
    assert [[t[k] for k in keys] for t in fast["trades"]] == [[t[k] for k in keys] for t in replay["trades"]]
    assert [t["pnl"] for t in fast["trades"]] == pytest.approx([t["pnl"] for t in replay["trades"]], rel=1e-9)


def test_the_pages_profile_section_loads_under_the_demo_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `strategy:` block the page tells you to put in a paper profile is accepted by ConfigManager."""
    import yaml

    from gpt_trader.orchestration.configuration import ConfigManager

    monkeypatch.chdir(ROOT)
    page = (ROOT / "docs" / "strategy.md").read_text()
    block = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    demo = yaml.safe_load((ROOT / "src" / "gpt_trader" / "config" / "profiles" / "demo.yaml").read_text())
    profile = tmp_path / "my_paper.yaml"
    profile.write_text(yaml.safe_dump({**demo, **yaml.safe_load(block)}))
    config = ConfigManager(env={}, dotenv_path=None).load(str(profile))
    assert config.broker == "paper"
    assert config.strategy.name == EXAMPLE and config.strategy.granularity_s == 3600
    assert config.strategy.params == {"channel": 30, "atr_period": 14, "atr_exit": 2.0}
