"""Parameter search over the fast backtest: optuna studies, walk-forward, an overfitting measure.

Entry points: `optimize_command` (cli.py: `perps-bot optimize`), `run_study` (study.py: one optuna study
over a bar range, evaluated by an executor), `walk_forward` (walkforward.py), `SearchSpace.parse`
(space.py: `--space` checked against the strategy's typed parameter bounds), `LocalExecutor` /
`RayExecutor` (executors.py), `pbo_cscv` and `deflated_sharpe` (overfitting.py).
Research slice: optuna, plotly and ray load lazily; the live trading loop never imports it.
"""

__experimental__ = True
