"""Features and labels over whole bars, computed exactly as the live model computes them.

Each bar's features come from the last `need` bars only, through `live_trade.ml_model.compute_features`
(so nothing after a bar enters its row). The label of bar t is whether close[t + horizon] > close[t];
it exists only when bar t + horizon is inside the data the caller allows (`last`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gpt_trader.features.live_trade.ml_model import compute_features, features_need
from gpt_trader.features.live_trade.strategies.base import BarWindow

if TYPE_CHECKING:
    import numpy as np

    from gpt_trader.features.backtest.bars import Bars


def feature_matrix(bars: Bars, names: Sequence[str]) -> np.ndarray:
    """(bars x features) float64, NaN rows while warming up."""
    import numpy as np

    need = features_need(tuple(names))
    o, h, lo, c, v = (col.tolist() for col in (bars.open, bars.high, bars.low, bars.close, bars.volume))
    x = np.full((len(c), len(names)), np.nan)
    for t in range(need - 1, len(c)):
        row = compute_features(BarWindow(o, h, lo, c, v, t + 1 - need, t + 1), tuple(names))
        if row is not None:
            x[t] = row
    return x


def labels(close: np.ndarray, horizon: int, last: int) -> np.ndarray:
    """float64 per bar: 1.0 up, 0.0 not up, NaN where bar t + horizon is after index `last`."""
    import numpy as np

    y = np.full(close.shape[0], np.nan)
    end = min(last + 1, close.shape[0]) - horizon
    if end > 0:
        y[:end] = (close[horizon : end + horizon] > close[:end]).astype(np.float64)
    return y


def forward_returns(close: np.ndarray, horizon: int) -> np.ndarray:
    import numpy as np

    r = np.full(close.shape[0], np.nan)
    r[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
    return r
