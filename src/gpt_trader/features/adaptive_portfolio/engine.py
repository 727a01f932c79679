"""One entry point for both portfolio engines."""

from __future__ import annotations

from gpt_trader.features.adaptive_portfolio.result import PortfolioResult
from gpt_trader.features.adaptive_portfolio.universe import Universe
from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.live_trade.strategies.base import Strategy
from gpt_trader.features.live_trade.tiers import DEFAULT_TIERS, TierTable


def run_portfolio(
    universe: Universe,
    strategy: Strategy,
    config: BacktestConfig,
    tiers: TierTable = DEFAULT_TIERS,
    engine: str = "fast",
) -> PortfolioResult:
    if engine == "fast":
        from gpt_trader.features.adaptive_portfolio.fast import run_fast_portfolio

        return run_fast_portfolio(universe, strategy, config, tiers)
    if engine == "replay":
        from gpt_trader.features.adaptive_portfolio.replay import run_replay_portfolio

        return run_replay_portfolio(universe, strategy, config, tiers)
    raise ValueError(f"unknown engine {engine!r}; allowed: ['fast', 'replay']")
