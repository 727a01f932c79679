"""Strategies: small classes with one live method (`decide`) and one vectorized (`signals`).

Entry points: `get_strategy(name, **params)`, `Strategy`, `Decision`.
"""

from gpt_trader.features.live_trade.strategies.base import (
    Action,
    Decision,
    Strategy,
    available_strategies,
    get_strategy,
    register,
)

__all__ = ["Action", "Decision", "Strategy", "available_strategies", "get_strategy", "register"]
