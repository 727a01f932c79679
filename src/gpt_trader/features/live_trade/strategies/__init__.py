"""Strategies: small classes with one required method, `decide` over a window of OHLCV bars.

Entry points: `get_strategy(name_or_module_path, **params)`, `Strategy`, `BarWindow`, `Decision`, `Exits`,
`Signals` (the optional vectorized form), `param_space` (the optimizer's bounds).
"""

from gpt_trader.features.live_trade.strategies.base import (
    Action,
    BarWindow,
    Decision,
    Exits,
    ParamBound,
    Signals,
    Strategy,
    available_strategies,
    default_strategies,
    get_strategy,
    has_signals,
    param_space,
    register,
    strategy_class,
)

__all__ = [
    "Action",
    "BarWindow",
    "Decision",
    "Exits",
    "ParamBound",
    "Signals",
    "Strategy",
    "available_strategies",
    "default_strategies",
    "get_strategy",
    "has_signals",
    "param_space",
    "register",
    "strategy_class",
]
