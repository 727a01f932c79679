"""The strategy contract: typed bounded parameters, loading by name or module path, `decide` only is
enough for both engines (the fast one says it ran `decide` per bar), and the live path stays lean."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import msgspec
import pytest

from gpt_trader.features.live_trade.strategies import (
    Action,
    BarWindow,
    Decision,
    ParamBound,
    Strategy,
    get_strategy,
    has_signals,
    param_space,
    strategy_class,
)

DECIDE_ONLY = """
from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec

from gpt_trader.features.live_trade.indicators import momentum
from gpt_trader.features.live_trade.strategies import Action, BarWindow, Decision, Strategy


class Params(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    lookback: Annotated[int, msgspec.Meta(ge=2, le=100)] = 12


class Breakout(Strategy):
    name: ClassVar[str] = "user_breakout"
    Params = Params

    @property
    def history_needed(self) -> int:
        return self.p.lookback + 1

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        if len(window) < self.history_needed:
            return Decision.hold("warming up")
        highs, close = window.high[:-1], window.close[-1]
        if position_size == 0 and close > max(highs[-self.p.lookback :]):
            return Decision(action=Action.BUY, reason="new high")
        if position_size > 0 and momentum(window.close, self.p.lookback) < 0:
            return Decision(action=Action.CLOSE, reason="momentum turned")
        return Decision.hold("no signal")
"""


@pytest.fixture()
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "my_user_strategies.py").write_text(textwrap.dedent(DECIDE_ONLY))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_user_strategies:Breakout"


def test_parameters_are_typed_frozen_and_bounded() -> None:
    s = get_strategy("sma_cross", fast="10", slow="40")  # strings, as from the command line
    assert (s.p.fast, s.p.slow) == (10, 40) and s.params == {"fast": 10, "slow": 40}
    with pytest.raises(AttributeError):
        s.p.fast = 3
    space = param_space(strategy_class("mean_reversion").Params)
    assert space["window"] == ParamBound("int", 2, 2000, 20)
    assert space["entry_pct"].kind == "float" and space["entry_pct"].low == 0.0
    assert param_space(strategy_class("baseline").Params)["allow_shorts"] == ParamBound("bool", 0, 1, False)
    with pytest.raises(ValueError, match=r"Expected `int` <= 500 - at `\$.fast`"):
        get_strategy("baseline", fast=501)
    with pytest.raises(ValueError, match=r"Expected `bool`, got `str` - at `\$.trend_exit`"):
        get_strategy("baseline", trend_exit="maybe")


def test_load_from_module_path_and_errors(user_module: str) -> None:
    s = get_strategy(user_module, lookback="5")
    assert s.name == "user_breakout" and s.p.lookback == 5 and not has_signals(s)
    by_file = get_strategy(f"{Path(sys.modules['my_user_strategies'].__file__ or '')}:Breakout")
    assert by_file.name == "user_breakout" and by_file.p.lookback == 12
    with pytest.raises(ValueError, match="no such file"):
        get_strategy("/nonexistent/strategy.py:Breakout")
    with pytest.raises(ValueError, match="cannot import module 'no_such_module_xyz'"):
        get_strategy("no_such_module_xyz:Thing")
    with pytest.raises(ValueError, match="has no Strategy subclass named 'Decimal'"):
        get_strategy("my_user_strategies:Decimal")
    with pytest.raises(ValueError, match=r"unknown strategy 'nope'.*module.path:ClassName"):
        get_strategy("nope")


def test_load_by_file_path_with_postponed_annotations(tmp_path: Path) -> None:
    """A strategy file with `from __future__ import annotations` loads by path: msgspec resolves its
    Params annotations through sys.modules, so the loader registers the module before running it."""
    path = tmp_path / "postponed_strategy.py"
    path.write_text("from __future__ import annotations\n" + textwrap.dedent(DECIDE_ONLY))
    s = get_strategy(f"{path}:Breakout", lookback=7)
    assert s.p.lookback == 7
    broken = tmp_path / "broken_strategy.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(RuntimeError, match="boom"):
        get_strategy(f"{broken}:Breakout")
    assert "user_strategy_broken_strategy" not in sys.modules  # a file that fails to run is not left behind


def test_decide_only_strategy_runs_in_both_engines(user_module: str) -> None:
    from bt_helpers import SHARED_FILES, assert_parity, shared_bars

    from gpt_trader.features.backtest.config import BacktestConfig
    from gpt_trader.features.backtest.engine import run_backtest

    bars = shared_bars(*SHARED_FILES[3]).head(3000)
    strategy = get_strategy(user_module)
    fast = run_backtest(bars, strategy, BacktestConfig(), "fast")
    replay = run_backtest(bars, strategy, BacktestConfig(), "replay")
    assert fast.signals_source == "decide per bar" and len(fast.trades) > 10
    assert_parity(fast, replay)
    vec = run_backtest(bars, get_strategy("sma_cross"), BacktestConfig(), "fast")
    assert vec.signals_source == "vectorized signals"


def test_bar_window_is_a_view_with_book_and_funding() -> None:
    rows = [(1.0, 2.0, 0.5, 1.5, 10.0), (1.5, 3.0, 1.0, 2.5, 20.0), (2.5, 2.6, 2.0, 2.1, 5.0)]
    w = BarWindow.from_rows(rows, bid=2.0, ask=2.2)
    assert len(w) == 3 and list(w.close) == [1.5, 2.5, 2.1] and list(w.high) == [2.0, 3.0, 2.6]
    assert (w.bid, w.ask, w.funding_rate) == (2.0, 2.2, None)
    cols = [float(i) for i in range(10)]
    part = BarWindow(cols, cols, cols, cols, cols, 6, 9, funding_rate=0.0001)
    assert list(part.close) == [6.0, 7.0, 8.0] and part.funding_rate == 0.0001
    assert list(BarWindow(cols, cols, cols, cols, cols, -3, 2).close) == [0.0, 1.0]


class AlwaysShort(Strategy):
    """Sells whenever flat: a perp short that the engines must refuse, not drop."""

    name: ClassVar[str] = "always_short_test"

    @property
    def history_needed(self) -> int:
        return 1

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        if position_size == 0:
            return Decision(action=Action.SELL, reason="short")
        return Decision.hold()


def test_shorts_reach_signals_and_decide_but_engines_refuse_them_on_perps() -> None:
    from bt_helpers import SHARED_FILES, shared_bars

    from gpt_trader.features.backtest.config import BacktestConfig, resolve_product
    from gpt_trader.features.backtest.engine import run_backtest
    from gpt_trader.features.brokerages.core.interfaces import ProductType

    bars = shared_bars(*SHARED_FILES[3]).head(2000)
    s = get_strategy("baseline", allow_shorts=True)
    sig = s.signals(bars)  # type: ignore[attr-defined]
    assert sig.short_entry is not None and sig.short_entry.any()
    t = int(sig.short_entry.argmax())
    from gpt_trader.features.backtest.strategy_signals import BarColumns

    assert s.decide("X", BarColumns(bars, s.history_needed).window_at(t), Decimal(0)).action is Action.SELL
    perp = msgspec.structs.replace(resolve_product("BTC-USD"), product_type=ProductType.PERPETUAL)
    for engine in ("fast", "replay"):
        with pytest.raises(NotImplementedError, match="short positions in the backtest engines are not built"):
            run_backtest(bars, AlwaysShort(), BacktestConfig(product=perp), engine)
    spot = run_backtest(bars, s, BacktestConfig(), "fast")  # spot: short entries are ignored by both
    assert all(tr.side == "long" for tr in spot.trades)


def test_live_path_imports_no_research_slice() -> None:
    """Importing the live loop and running every strategy's decide loads no research slice or library."""
    code = (
        "import sys\nfrom decimal import Decimal\n"
        "import gpt_trader.orchestration.perps_bot, gpt_trader.orchestration.service_registry\n"
        "import gpt_trader.cli\n"
        "from gpt_trader.features.live_trade.strategies import BarWindow, default_strategies, get_strategy\n"
        "for n in default_strategies():\n"
        "    get_strategy(n).decide('X', BarWindow.from_closes([100.0 + i % 7 for i in range(300)]), Decimal(0))\n"
        "heavy = ('numpy', 'pandas', 'numba', 'sklearn', 'hmmlearn', 'scipy', 'gpt_trader.features.backtest',\n"
        "    'gpt_trader.features.ml_strategy.train', 'gpt_trader.features.market_regime.fit',\n"
        "    'optuna', 'ray', 'plotly', 'gpt_trader.features.optimize', 'gpt_trader.features.analyze')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
