"""ML strategy selection: a model that predicts, per symbol and bar, the direction of the next move from
regime and indicator features; its confidence feeds Kelly sizing through `Decision.confidence`.

Entry points: `train.train_model` (logistic regression, scikit-learn, exported as
`live_trade.ml_model.MlModel` JSON), `train.walk_forward` (purged and embargoed walk-forward report),
`train.predict_rows`, `cli.ml_app` (`perps-bot ml train | predict | evaluate | show`).

The live side (`live_trade/ml_model.py`, the `ml_direction` strategy) is pure Python and never imports
this slice or scikit-learn.
"""

__experimental__ = True
