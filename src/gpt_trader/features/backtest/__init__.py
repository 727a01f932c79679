"""Backtesting: a fast vectorized engine and a replay of the real bot, held together by parity tests.

Entry points: `run_backtest` (engine.py), `BacktestConfig` (config.py), `backtest_command` (cli.py).
Research slice: numpy/numba/pandas/plotly load lazily; the live trading loop never imports it.
"""

__experimental__ = True
