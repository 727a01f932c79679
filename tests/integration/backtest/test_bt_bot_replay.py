"""The replay driver against the real PerpsBot: with the bot's own sizing (dev profile: fixed 0.001 BTC),
both produce the same fills until one of the live-only rails (consecutive-loss pause) first acts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from btint_helpers import SHARED_FILES, shared_bars

from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.engine import run_backtest
from gpt_trader.features.backtest.replay.bot import run_bot_replay
from gpt_trader.features.live_trade.strategies import get_strategy

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_perpsbot_replay_matches_the_driver_until_a_live_rail_acts(tmp_path: Path) -> None:
    bars = shared_bars(*SHARED_FILES[2]).head(700)  # Bitstamp BTC-USD 1m
    params = {"fast": 5, "slow": 20}
    cfg = BacktestConfig(fee_bps=Decimal(60), size_pct=None, size_qty=Decimal("0.001"))
    bot = run_bot_replay(bars, "sma_cross", params, cfg, "dev", work_dir=tmp_path)
    driver = run_backtest(bars, get_strategy("sma_cross", **params), cfg, "replay")
    assert bot.engine == "replay-bot:dev" and len(bot.trades) >= 5
    blocked = any(k.startswith(("guard:", "entry_blocked:", "pre_trade:")) for k in bot.rules_acted)
    n = len(bot.trades) if not blocked else 4  # the dev rails pause entries after 4 losing trades in a row
    for ours, theirs in zip(driver.trades[:n], bot.trades[:n], strict=True):
        assert (ours.entry_time, ours.exit_time, ours.size) == (theirs.entry_time, theirs.exit_time, theirs.size)
        assert (ours.entry_price, ours.exit_price) == (theirs.entry_price, theirs.exit_price)
        assert ours.fees == pytest.approx(theirs.fees)
    if blocked:
        assert "guard:consecutive_losses:block_entries" in bot.rules_acted
    assert not list(Path("var/data/dev").glob("*backtest*"))  # the bot's stores went to the work dir
    assert (tmp_path / "data").exists()


def test_risk_profile_lists_rails_that_acted(tmp_path: Path) -> None:
    bars = shared_bars(*SHARED_FILES[2])
    res = run_bot_replay(bars, "sma_cross", {"fast": 5, "slow": 20}, BacktestConfig(), "canary", work_dir=tmp_path)
    # canary trades 14:00-15:00 UTC only: every crossing outside that hour is blocked and listed
    assert res.rules_acted.get("entry_blocked:outside trading window 14:00-15:00 UTC", 0) > 10
    assert all(t.entry_time.hour == 14 for t in res.trades)


def test_risk_profile_needs_a_dashed_symbol() -> None:
    bars = shared_bars(*SHARED_FILES[0]).head(100)
    with pytest.raises(ValueError, match="needs a symbol like BTC-USD"):
        run_bot_replay(bars, "sma_cross", {}, BacktestConfig(), "dev")


@pytest.mark.parametrize("name", ["sma_cross", "baseline"])
def test_perpsbot_under_backtest_rails_equals_the_driver(tmp_path: Path, name: str) -> None:
    """With the same rules (no live-only rails, fixed size), the real bot and the driver trade identically."""
    bars = shared_bars(*SHARED_FILES[2]).head(720)  # half a day of 1m bars
    params = {"fast": 5, "slow": 20} if name == "sma_cross" else {}
    cfg = BacktestConfig(fee_bps=Decimal(60), slippage_bps=Decimal(3), size_pct=None, size_qty=Decimal("0.05"))
    bot = run_bot_replay(bars, name, params, cfg, "backtest", work_dir=tmp_path)
    driver = run_backtest(bars, get_strategy(name, **params), cfg, "replay")
    assert bot.rules_acted == {} and len(bot.trades) > 10
    assert [(t.entry_time, t.exit_time, t.size, t.entry_price, t.exit_price) for t in bot.trades] == [
        (t.entry_time, t.exit_time, t.size, t.entry_price, t.exit_price) for t in driver.trades
    ]
    assert abs(bot.final_equity / driver.final_equity - 1) <= 1e-9
