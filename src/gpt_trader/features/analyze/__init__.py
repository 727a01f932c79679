"""Market analysis across a universe of symbols: return distributions, rolling volatility, correlations,
regime timeline (from the market_regime slice), funding history for perps, drawdown profile.

Entry points: `analyze_command` (cli.py: `perps-bot analyze`), `analyze_symbol` and `correlation`
(stats.py), `write_report` (report.py). Research slice: pandas and plotly load when it runs; the live
trading loop never imports it.
"""

__experimental__ = True
