"""Backtesting: a fast vectorized engine and a replay of the real bot, held together by parity tests.

Entry points: `run_backtest` (engine.py: engine "fast" or "replay"), `BacktestConfig` (config.py),
`backtest_command` (cli.py). `replay.bot.run_bot_replay` runs the real PerpsBot on the same venue.

Execution model (both engines): a decision on bar t's close fills at bar t+1's open; buys at
ceil(open x (1 + slippage)) and sells at floor(open x (1 - slippage)) on the price grid; sizes floored to
the base increment; notional and fee exact, unrounded (the shared MatchingEngine's settlement, as the
venue's `commission`); funding from a series is charged at the first bar open after settlement.
Research slice: numpy/numba/pandas/plotly load lazily; the live trading loop never imports it.
"""

__experimental__ = True
