"""Execution model, checked by hand in Decimal, on both engines: next-open fills, slippage ticks, sizing,
venue rounding, open positions at the end, the modelled guards and funding."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import pandas as pd
import pytest
from bt_helpers import Scripted, assert_parity, make_bars

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.engine import run_backtest
from gpt_trader.features.backtest.result import BacktestResult
from gpt_trader.features.live_trade.strategies.base import Strategy

D = Decimal
SAT = D("0.00000001")


def both(bars: Bars, strategy: Strategy, config: BacktestConfig) -> tuple[BacktestResult, BacktestResult]:
    fast = run_backtest(bars, strategy, config, "fast")
    replay = run_backtest(bars, strategy, config, "replay")
    assert_parity(fast, replay)
    return fast, replay


def _value(size: Decimal, price: Decimal) -> Decimal:
    return size * price  # exact: the venue settles notionals unrounded


def _fee(value: Decimal, rate: Decimal) -> Decimal:
    return value * rate  # exact, like Coinbase's `commission`


def test_round_trip_by_hand() -> None:
    opens = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    closes = [100.5, 101.5, 102.5, 103.5, 104.5, 105.5]
    bars = make_bars(opens, closes)
    cfg = BacktestConfig(initial_cash=D(10000), fee_bps=D(60), slippage_bps=D(10))
    fast, _ = both(bars, Scripted([1], [3], len(opens)), cfg)
    buy_px = D("102.11")  # 102 x 1.001 = 102.102, rounded up to the tick
    sell_px = D("103.89")  # 104 x 0.999 = 103.896, rounded down
    rate = D("0.006")
    size = (D(10000) / (buy_px * (1 + rate))).quantize(SAT, rounding=ROUND_FLOOR)
    buy_val, sell_val = _value(size, buy_px), _value(size, sell_px)
    cash = D(10000) - buy_val - _fee(buy_val, rate) + sell_val - _fee(sell_val, rate)
    [t] = fast.trades
    assert (t.entry_time, t.exit_time) == (
        pd.Timestamp("2024-01-01 02:00", tz="UTC"),
        pd.Timestamp("2024-01-01 04:00", tz="UTC"),
    )
    assert (t.size, t.entry_price, t.exit_price) == (size, buy_px, sell_px)
    assert t.fees == pytest.approx(float(_fee(buy_val, rate) + _fee(sell_val, rate)), abs=1e-9)
    assert fast.final_equity == pytest.approx(float(cash), abs=1e-9)
    assert t.pnl == pytest.approx(float(cash - D(10000)), abs=1e-9)
    assert t.pnl > 0 and fast.metrics["trades"] == 1.0 and fast.metrics["win_rate"] == 1.0


def test_last_bar_signal_does_not_fill_and_open_position_is_marked() -> None:
    opens = [100.0, 100.0, 110.0, 120.0]
    closes = [100.0, 105.0, 115.0, 125.0]
    bars = make_bars(opens, closes)
    cfg = BacktestConfig(fee_bps=D(0))
    fast, _ = both(bars, Scripted([0], [3], 4), cfg)  # exit signal on the last bar: no next bar
    [t] = fast.trades
    assert t.exit_time is None and t.exit_price == D("125.0")
    assert t.entry_price == D("100.00") and t.size == D(100)
    assert fast.final_equity == pytest.approx(12500.0)
    assert fast.to_dict()["trades"][0]["exit_time"] is None
    fast2, _ = both(bars, Scripted([3], [], 4), cfg)  # entry on the last bar never fills
    assert fast2.trades == [] and fast2.final_equity == 10000.0


def test_size_pct_and_size_qty() -> None:
    bars = make_bars([100.0] * 5, [100.0] * 5)
    half, _ = both(bars, Scripted([0], [2], 5), BacktestConfig(fee_bps=D(0), size_pct=D(50)))
    assert half.trades[0].size == D(50)
    qty, _ = both(bars, Scripted([0], [2], 5), BacktestConfig(fee_bps=D(0), size_pct=None, size_qty=D("1.5")))
    assert qty.trades[0].size == D("1.5")
    capped, _ = both(bars, Scripted([0], [2], 5), BacktestConfig(fee_bps=D(0), size_pct=None, size_qty=D(500)))
    assert capped.trades[0].size == D(100) and capped.rules_acted == {"size_capped_by_cash": 1}


def test_stop_loss_and_take_profit() -> None:
    closes = [100.0, 100.0, 96.0, 95.0, 100.0, 100.0, 104.0, 110.0, 110.0]
    bars = make_bars([100.0] * 9, closes)
    cfg = BacktestConfig(fee_bps=D(0), stop_loss_pct=D(4), take_profit_pct=D(5))
    fast, _ = both(bars, Scripted([0, 4], [], 9), cfg)
    # intrabar: entry at bar 1 open (100); bar 2's low 96 reaches the stop at 96, exit inside bar 2 at 96;
    # re-entry at bar 5's open; bar 7's high 110 crosses the target 105, exit inside bar 7 at 105
    assert [(t.entry_time.hour, t.exit_time.hour if t.exit_time else None) for t in fast.trades] == [
        (1, 2),
        (5, 7),
    ]
    assert [t.exit_price for t in fast.trades] == [D(96), D(105)]
    assert fast.rules_acted == {"stop_loss": 1, "take_profit": 1}


def _ohlc_bars(rows: list[tuple[float, ...]]) -> Bars:
    idx = pd.date_range("2024-01-01", periods=len(rows), freq="1h", tz="UTC")
    df = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=idx).assign(volume=1.0)
    return Bars.from_frame(df, "TEST-USD", 3600)


def test_intrabar_rule_stop_before_target_gaps_and_trailing() -> None:
    cfg = BacktestConfig(fee_bps=D(0), stop_loss_pct=D(4), take_profit_pct=D(5))
    # bar 2 holds both the stop (96) and the target (105): the pessimistic rule takes the stop
    both_in_one = _ohlc_bars([(100, 100, 100, 100), (100, 100, 100, 100), (100, 106, 95, 100), (100, 100, 100, 100)])
    fast, _ = both(both_in_one, Scripted([0], [], 4), cfg)
    assert fast.trades[0].exit_price == D(96) and fast.rules_acted == {"stop_loss": 1}
    # a gap through the stop fills at the open, not at the stop
    gap = _ohlc_bars([(100, 100, 100, 100), (100, 100, 100, 100), (90, 91, 89, 90), (90, 90, 90, 90)])
    fast, _ = both(gap, Scripted([0], [], 4), cfg)
    assert fast.trades[0].exit_price == D(90)
    # a target touched but not crossed does not fill (a resting limit needs the high through it)
    touch = _ohlc_bars([(100, 100, 100, 100), (100, 100, 100, 100), (100, 105, 99, 104), (104, 104, 104, 104)])
    fast, _ = both(touch, Scripted([0], [], 4), cfg)
    assert fast.trades[0].exit_time is None
    # trailing 5 %: the anchor is the best high of the bars before (110 at bar 2), so bar 3's low 104.4
    # reaches 104.5 and exits there; bar 2's own high does not move bar 2's stop
    trail_cfg = BacktestConfig(fee_bps=D(0), trailing_pct=D(5))
    rows: list[tuple[float, ...]] = [
        (100, 100, 100, 100),
        (100, 100, 100, 100),
        (101, 110, 96, 109),
        (109, 109, 104.4, 105),
        (105,) * 4,
    ]
    fast, _ = both(_ohlc_bars(rows), Scripted([0], [], 5), trail_cfg)
    assert fast.trades[0].exit_price == D("104.5") and fast.rules_acted == {"trailing_stop": 1}


def test_daily_loss_guard_blocks_the_rest_of_the_day() -> None:
    # 6h bars: day 1 has 4 bars, the loss comes on its 2nd; entries are tried again the same day and next day
    closes = [100.0, 90.0, 90.0, 90.0, 90.0, 90.0]
    bars = make_bars([100.0] * 6, closes, freq="6h")
    cfg = BacktestConfig(fee_bps=D(0), max_daily_loss_pct=D(5))
    fast, _ = both(bars, Scripted([0, 2, 4], [], 6), cfg)
    assert fast.rules_acted == {"daily_loss": 1}
    assert [(t.entry_time.day, t.entry_time.hour) for t in fast.trades] == [(1, 6), (2, 6)]
    assert fast.trades[0].exit_time == pd.Timestamp("2024-01-01 12:00", tz="UTC")


def test_drawdown_guard_halts_for_good() -> None:
    closes = [100.0, 100.0, 80.0, 80.0, 100.0, 100.0]
    bars = make_bars([100.0] * 6, closes)
    fast, _ = both(bars, Scripted([0, 3, 4], [], 6), BacktestConfig(fee_bps=D(0), max_drawdown_pct=D(10)))
    assert fast.rules_acted == {"max_drawdown": 1} and len(fast.trades) == 1


def test_funding_is_charged_on_the_held_position() -> None:
    bars0 = make_bars([100.0] * 6, [100.0] * 6)
    funding = pd.Series([0.001, 0.002], index=pd.to_datetime(["2024-01-01 02:30", "2024-01-01 09:00"], utc=True))
    bars = make_bars([100.0] * 6, [100.0] * 6, funding=funding)
    assert bars.funding.tolist() == [0.0, 0.0, 0.0, 0.001, 0.0, 0.0]  # charged at the next bar open
    fast, replay = both(bars, Scripted([0], [4], 6), BacktestConfig(fee_bps=D(0)))
    assert fast.trades[0].funding == pytest.approx(100 * 100.0 * 0.001)
    assert fast.final_equity == pytest.approx(10000.0 - 10.0)
    assert run_backtest(bars0, Scripted([0], [4], 6), BacktestConfig(fee_bps=D(0))).final_equity == 10000.0
    assert replay.total_funding == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_cash": D(0)}, "initial_cash must be > 0"),
        ({"fee_bps": D(-1)}, "fee_bps must be in"),
        ({"size_pct": D(0)}, "size_pct must be in"),
        ({"size_pct": None}, "exactly one of size_pct and size_qty"),
        ({"stop_loss_pct": D(100)}, "stop_loss_pct must be in"),
    ],
)
def test_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BacktestConfig(**kwargs)  # type: ignore[arg-type]


def test_unknown_engine() -> None:
    with pytest.raises(ValueError, match="unknown engine 'slow'"):
        run_backtest(make_bars([1.0, 1.0], [1.0, 1.0]), Scripted([], [], 2), BacktestConfig(), "slow")


def test_product_increments_must_be_powers_of_ten() -> None:
    from gpt_trader.features.backtest.config import decimal_places

    assert decimal_places(D("0.01"), "p") == 2 and decimal_places(D("1"), "p") == 0
    with pytest.raises(ValueError, match="power of ten"):
        decimal_places(D("0.5"), "price_increment")


def test_limit_entries_fill_only_when_the_low_crosses_at_the_maker_fee() -> None:
    cfg = BacktestConfig(
        fee_bps=D(60), maker_fee_bps=D(40), entry_limit_bps=D(100), entry_timeout_bars=3, size_pct=None, size_qty=D(1)
    )
    # signal on bar 0's close (100): a limit at 99 rests; bar 1's low 99 touches it (no fill), bar 2's 98.5 crosses
    rows: list[tuple[float, ...]] = [(100,) * 4, (100, 101, 99, 100), (100, 100, 98.5, 99.5), (99.5,) * 4]
    fast, replay = both(_ohlc_bars(rows), Scripted([0], [], 4), cfg)
    (trade,) = fast.trades
    assert trade.entry_time.hour == 2 and trade.entry_price == D(99) and trade.size == D(1)
    assert D(repr(trade.fees)) == D("0.396"), "maker fee: 99 x 0.4 %"
    assert fast.rules_acted == {"limit_entry_filled": 1}
    assert D(repr(fast.maker_fees)) == D("0.396") and fast.metrics["fees_taker"] == 0.0
    # the fee split reaches the HTML report
    import tempfile
    from pathlib import Path

    from gpt_trader.features.backtest.report import write_html_report

    with tempfile.TemporaryDirectory() as tmp:
        html = write_html_report(replay, Path(tmp) / "r.html").read_text()
    assert "Fees, maker" in html and "Fees, taker" in html
    # never crossed within the timeout: the entry expires, no trade
    flat: list[tuple[float, ...]] = [(100,) * 4, (100, 101, 99.5, 100), (100, 100, 99.2, 100), (100,) * 4, (100,) * 4]
    fast, _ = both(_ohlc_bars(flat), Scripted([0], [], 5), cfg)
    assert fast.trades == [] and fast.rules_acted == {"limit_entry_expired": 1}
