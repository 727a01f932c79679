"""Vectorized SMA is bit-identical to the live one; each strategy's `signals` equals its `decide`."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from bt_helpers import SHARED_FILES, shared_bars
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.features.backtest.strategy_signals import signals_from_decide
from gpt_trader.features.live_trade.indicators import sma as live_sma
from gpt_trader.features.live_trade.indicators_compiled import sma, sma_numpy
from gpt_trader.features.live_trade.strategies import Action, BarWindow, default_strategies, get_strategy, has_signals

prices = st.lists(st.floats(min_value=0.01, max_value=1e6, allow_nan=False), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(values=prices, n=st.integers(min_value=1, max_value=60))
def test_sma_bitwise_equal_to_live(values: list[float], n: int) -> None:
    x = np.array(values)
    fast, ref = sma(x, n), sma_numpy(x, n)
    for t in range(len(values)):
        if t < n - 1:
            assert np.isnan(fast[t]) and np.isnan(ref[t])
        else:
            live = live_sma(values, n, t + 1)
            assert fast[t] == live and ref[t] == live and live_sma(values[: t + 1], n) == live


def test_sma_rejects_bad_window() -> None:
    with pytest.raises(ValueError, match="window must be >= 1"):
        sma(np.ones(3), 0)


STRATEGIES = [
    ("sma_cross", {}),
    ("sma_cross", {"fast": 5, "slow": 13}),
    ("mean_reversion", {}),
    ("mean_reversion", {"window": 50, "entry_pct": 1.0, "exit_pct": 0.5}),
    ("baseline", {}),
    ("baseline", {"trend_exit": True}),
    ("baseline", {"allow_shorts": True}),
]


def _assert_signals_match_decide(name: str, params: dict[str, object], file: tuple[str, str, str]) -> None:
    bars = shared_bars(*file)
    strategy = get_strategy(name, **params)
    sig = strategy.signals(bars)  # type: ignore[attr-defined]
    ref = signals_from_decide(strategy, bars, shorts=sig.short_entry is not None)
    for got, want, what in zip(sig, ref, ("long_entry", "long_exit", "short_entry", "short_exit"), strict=True):
        if want is None:
            assert got is None, what
            continue
        bad = np.flatnonzero(np.asarray(got, bool) != want)
        assert bad.size == 0, f"{name} {params}: {what} differs from decide at bars {bad[:5].tolist()}"
    assert ref.long_entry.any() or ref.long_exit.any()


@pytest.mark.parametrize(("name", "params"), STRATEGIES)
@pytest.mark.parametrize("file", SHARED_FILES[1:4], ids=lambda f: f[0][:12])
def test_decide_matches_signals(name: str, params: dict[str, object], file: tuple[str, str, str]) -> None:
    _assert_signals_match_decide(name, params, file)


def _with_signals() -> list[str]:
    return [n for n in default_strategies() if has_signals(get_strategy(n))]


@pytest.mark.parametrize("name", _with_signals())
def test_every_vectorized_strategy_is_held_to_decide(name: str) -> None:
    """Picked up automatically: any registered strategy that offers `signals` (default parameters)."""
    _assert_signals_match_decide(name, {}, SHARED_FILES[3])


def test_sma_cross_definition_and_warmup() -> None:
    s = get_strategy("sma_cross", fast=2, slow=3)
    close = np.array([5.0, 4.0, 3.0, 2.0, 3.0, 6.0, 7.0, 5.0, 2.0, 1.0])
    entries, exits = s.signals(_columns(close))[:2]  # type: ignore[attr-defined]
    # fast = SMA2, slow = SMA3; the first possible signal is at index slow (=3)
    f = [np.nan, 4.5, 3.5, 2.5, 2.5, 4.5, 6.5, 6.0, 3.5, 1.5]
    sl = [np.nan, np.nan, 4.0, 3.0, 8 / 3, 11 / 3, 16 / 3, 6.0, 14 / 3, 8 / 3]
    for t in range(3, 10):
        assert entries[t] == (f[t] > sl[t] and f[t - 1] <= sl[t - 1])
        assert exits[t] == (f[t] < sl[t] and f[t - 1] >= sl[t - 1])
    assert entries.tolist().index(True) == 5 and exits.tolist().index(True) == 8
    assert s.decide("X", BarWindow.from_closes(close[:3].tolist()), Decimal(0)).action is Action.HOLD  # warming up


def _columns(close: np.ndarray) -> object:
    from types import SimpleNamespace

    return SimpleNamespace(open=close, high=close, low=close, close=close, volume=close * 0, funding=close * 0)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("sma_cross", {"fast": 50, "slow": 20}, "need fast < slow"),
        ("mean_reversion", {"window": 1}, r"Expected `int` >= 2 - at `\$.window`.*window: int in \[2, 2000\]"),
        ("mean_reversion", {"entry_pct": 0}, r"Expected `float` > 0.0 - at `\$.entry_pct`"),
        ("mean_reversion", {"exit_pct": 5.0}, "need exit_pct < entry_pct"),
        ("sma_cross", {"speed": 1}, r"unknown parameter\(s\) \['speed'\]; allowed: \['fast', 'slow'\]"),
        ("sma_cross", {"fast": "ten"}, r"Expected `int`, got `str` - at `\$.fast`"),
    ],
)
def test_parameter_errors(name: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_strategy(name, **params)


def test_strategies_are_registered() -> None:
    from gpt_trader.features.live_trade.strategies import available_strategies

    assert {"sma_cross", "mean_reversion", "baseline"} <= set(available_strategies())


def _ref_sign(x: np.ndarray, a: int, b: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(np.sign(sma(x, a) - sma(x, b))).astype(np.int8)


grid_prices = st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(cents=grid_prices, a=st.integers(1, 30), b=st.integers(1, 60), places=st.integers(0, 8))
def test_mean_diff_sign_is_the_live_comparison(cents: list[int], a: int, b: int, places: int) -> None:
    """Grid prices (exact integer sums), ties included, agree with comparing the live float averages."""
    from gpt_trader.features.live_trade.indicators_compiled import mean_diff_sign

    x = np.array(cents, dtype=np.float64) / 10**places
    assert np.array_equal(mean_diff_sign(x, a, b), _ref_sign(x, a, b))
    flat = np.repeat(x[:3], 40)  # long runs of equal prices: every average ties
    assert np.array_equal(mean_diff_sign(flat, a, b), _ref_sign(flat, a, b))


def test_mean_diff_sign_off_grid_falls_back_to_live_averages() -> None:
    from gpt_trader.features.live_trade.indicators_compiled import grid_units, mean_diff_sign

    x = 100.0 + np.cumsum(np.random.default_rng(3).normal(0, 1, 2000)) / 3.0  # not on a decimal grid
    assert grid_units(x) is None
    assert np.array_equal(mean_diff_sign(x, 7, 19), _ref_sign(x, 7, 19))
    with_nan = x.copy()
    with_nan[5] = np.nan
    assert grid_units(with_nan) is None
    with pytest.raises(ValueError, match="windows must be >= 1"):
        mean_diff_sign(x, 0, 3)


def test_live_strategy_path_stays_lean() -> None:
    """Loading and running the strategies (live `decide`) imports no research library."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom decimal import Decimal\n"
        "from gpt_trader.features.live_trade.strategies import BarWindow, default_strategies, get_strategy\n"
        "for n in default_strategies():\n"
        "    get_strategy(n).decide('X', BarWindow.from_closes([100.0 + i % 7 for i in range(80)]), Decimal(0))\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'numba', 'pyarrow', 'plotly', 'sklearn', 'hmmlearn',\n"
        "    'gpt_trader.features.backtest') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
