"""Market regimes per symbol and bar: trending up/down, ranging, high volatility, crash.

Entry points: `series.regime_timeline` (a detector over whole bars), `series.regime_stats` (share,
mean next-bar return and volatility per regime), `fit.fit_hmm` (Gaussian HMM, hmmlearn, exported as
`live_trade.regime.HmmModel` JSON), `cli.regime_command` (`perps-bot regime`).

The online detectors themselves live in `features/live_trade/regime.py` (pure Python) so that the live
loop classifies from exported parameters without importing this slice, numpy or scikit-learn.
"""

__experimental__ = True
