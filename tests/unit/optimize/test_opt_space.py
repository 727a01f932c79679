"""--space is checked against the strategy's typed bounds, with errors that name the key and the range."""

from __future__ import annotations

import pytest

from gpt_trader.features.live_trade.strategies import strategy_class
from gpt_trader.features.optimize.space import SearchSpace


def test_ranges_choices_and_fixed_values() -> None:
    space = SearchSpace.parse(strategy_class("sma_cross"), "fast=5..50:5, slow=100|200")
    assert [(r.name, r.kind) for r in space.ranges] == [("fast", "int"), ("slow", "int")]
    assert space.grid() == {"fast": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50], "slow": [100, 200]}
    assert space.describe() == "fast=5..50:5,slow=100|200"
    fixed = SearchSpace.parse(strategy_class("sma_cross"), "fast=5..10,slow=60")
    assert fixed.fixed == {"slow": 60} and [r.name for r in fixed.ranges] == ["fast"]


def test_no_space_spans_the_declared_bounds() -> None:
    space = SearchSpace.parse(strategy_class("sma_cross"), None)
    assert {(r.name, r.low, r.high) for r in space.ranges} == {("fast", 1, 500), ("slow", 2, 2000)}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("fast=0..50", r"fast=0 is outside strategy 'sma_cross'.s bounds \[1, 500\]"),
        ("speed=1..5", r"no searchable parameter 'speed'; allowed: \['fast', 'slow'\]"),
        ("fast=5.5..9", r"fast: an int parameter takes whole numbers"),
        ("fast=9..5", r"fast: low must be below high"),
        ("fast", r"name=low..high"),
        ("fast=5..9,fast=6..7", r"'fast' given twice"),
        ("fast=5,slow=60", r"fixes every parameter"),
        ("fast=a..9", r"fast: 'a' is not a number"),
    ],
)
def test_bad_space_is_refused_by_name(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SearchSpace.parse(strategy_class("sma_cross"), text)


def test_grid_too_large_is_refused() -> None:
    space = SearchSpace.parse(strategy_class("sma_cross"), "fast=1..500,slow=2..2000")
    with pytest.raises(ValueError, match="more than 100,000 points"):
        space.grid()
