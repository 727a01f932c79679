"""Train, walk forward and predict with the direction model (scikit-learn logistic regression).

Training uses only bars that open at or before `until` and only labels that are known by then (bar
t + horizon at or before `until`), so a model trained with `until=T` is the same whether the data
runs past T or not. The walk-forward report trains on an expanding past and tests on the next block,
with the last `horizon + embargo` bars before each test block purged from training (their labels or
their features' memory overlap the test block).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gpt_trader.features.live_trade.ml_model import DEFAULT_FEATURES, MlModel, check_features
from gpt_trader.features.ml_strategy.dataset import feature_matrix, forward_returns, labels

if TYPE_CHECKING:
    import numpy as np

    from gpt_trader.features.backtest.bars import Bars


def _iso(ns: int) -> str:
    from gpt_trader.features.backtest.result import iso, ns_to_dt

    return str(iso(ns_to_dt(ns)))


def last_index_until(bars: Bars, until: datetime | None) -> int:
    """Index of the last bar opening at or before `until` (the last bar when None)."""
    if until is None:
        return len(bars) - 1
    import numpy as np

    idx = int(np.searchsorted(bars.ts_ns, int(until.timestamp() * 1_000_000_000), side="right")) - 1
    if idx < 0:
        raise ValueError(f"--until {until.isoformat()} is before the first bar")
    return idx


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[list[float], list[float], list[float], float]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    center, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0.0] = 1.0
    if len(np.unique(y)) < 2:
        raise ValueError("training labels are all one class; use more data or another horizon")
    clf = LogisticRegression(C=c, max_iter=1000)
    clf.fit((x - center) / scale, y)
    return center.tolist(), scale.tolist(), clf.coef_[0].tolist(), float(clf.intercept_[0])


def train_model(
    bars: Bars,
    *,
    until: datetime | None = None,
    horizon: int = 4,
    features: Sequence[str] = DEFAULT_FEATURES,
    c: float = 0.1,
) -> MlModel:
    """Fit on every bar with features and a label known by `until`; export with metadata and hash."""
    import numpy as np
    import sklearn

    if not 1 <= horizon <= 500:
        raise ValueError(f"horizon must be in [1, 500] bars, got {horizon}")
    if not c > 0:
        raise ValueError(f"C must be > 0, got {c}")
    names = list(features)
    check_features(names)
    last = last_index_until(bars, until)
    x = feature_matrix(bars.head(last + 1), names)
    y = labels(bars.close[: last + 1], horizon, last)
    ok = ~np.isnan(x).any(axis=1) & ~np.isnan(y)
    if ok.sum() < 200:
        raise ValueError(f"only {int(ok.sum())} labelled bars up to {_iso(int(bars.ts_ns[last]))}; need >= 200")
    center, scale, coef, intercept = _fit(x[ok], y[ok], c)
    rows = np.flatnonzero(ok)
    return MlModel(
        features=names,
        center=center,
        scale=scale,
        coef=coef,
        intercept=intercept,
        horizon=horizon,
        symbol=bars.symbol,
        train_start=_iso(int(bars.ts_ns[rows[0]])),
        train_end=_iso(int(bars.ts_ns[rows[-1]])),
        until=None if until is None else until.isoformat(),
        params={"C": c, "horizon": horizon, "granularity_s": bars.granularity_s},
        library={"scikit-learn": sklearn.__version__, "numpy": np.__version__},
        samples=int(ok.sum()),
    ).sealed()


def predict_rows(model: MlModel, bars: Bars) -> list[dict[str, Any]]:
    """One row per bar: ts, prediction ("up" | "down" | None while warming up) and confidence."""
    import numpy as np

    x = feature_matrix(bars, model.features)
    out: list[dict[str, Any]] = []
    for t in range(len(bars)):
        ts = _iso(int(bars.ts_ns[t]))
        if np.isnan(x[t]).any():
            out.append({"ts": ts, "prediction": None, "confidence": None})
            continue
        p = model.probability_up(x[t].tolist())
        out.append({"ts": ts, "prediction": "up" if p >= 0.5 else "down", "confidence": max(p, 1.0 - p)})
    return out


@dataclass(frozen=True)
class FoldReport:
    """Out-of-sample figures of one walk-forward fold."""

    fold: int
    train_bars: int
    test_start: str
    test_end: str
    test_bars: int
    accuracy: float
    base_rate_up: float
    log_loss: float
    auc: float | None
    confident_share: float  # share of test bars with confidence >= 0.55
    confident_accuracy: float | None
    mean_return_when_up: float | None  # forward return over the horizon where the model said up
    mean_return_when_down: float | None


def fold_masks(
    valid: np.ndarray, folds: int, k: int, horizon: int, embargo: int
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(train mask, test mask, test start, test end) of fold k: the data cut into folds + 1 blocks,
    test on block k + 1, train on everything before it except the last `horizon + embargo` bars (purged:
    their labels reach into the test block; embargoed: their features' memory overlaps it)."""
    n = valid.shape[0]
    block = n // (folds + 1)
    test_start, test_end = (k + 1) * block, (k + 2) * block if k < folds - 1 else n
    train = valid.copy()
    train[max(0, test_start - horizon - embargo) :] = False
    test = valid.copy()
    test[:test_start] = False
    test[test_end:] = False
    return train, test, test_start, test_end


def walk_forward(
    bars: Bars,
    *,
    folds: int = 5,
    horizon: int = 4,
    embargo: int = 24,
    features: Sequence[str] = DEFAULT_FEATURES,
    c: float = 0.1,
) -> list[FoldReport]:
    """Expanding-window walk-forward over `folds` equal test blocks after a first training block."""
    import numpy as np
    from sklearn.metrics import log_loss, roc_auc_score

    if not 2 <= folds <= 50:
        raise ValueError(f"folds must be in [2, 50], got {folds}")
    if embargo < 0:
        raise ValueError(f"embargo must be >= 0, got {embargo}")
    names = list(features)
    check_features(names)
    n = len(bars)
    x = feature_matrix(bars, names)
    y = labels(bars.close, horizon, n - 1)
    fwd = forward_returns(bars.close, horizon)
    valid = ~np.isnan(x).any(axis=1) & ~np.isnan(y)
    reports = []
    for k in range(folds):
        train, test, test_start, test_end = fold_masks(valid, folds, k, horizon, embargo)
        if train.sum() < 200 or test.sum() < 20:
            raise ValueError(f"fold {k}: too few bars (train {int(train.sum())}, test {int(test.sum())})")
        center, scale, coef, intercept = _fit(x[train], y[train], c)
        z = (x[test] - np.array(center)) / np.array(scale)
        p = 1.0 / (1.0 + np.exp(-(z @ np.array(coef) + intercept)))
        yt = y[test]
        pred = p >= 0.5
        conf = np.maximum(p, 1.0 - p)
        sure = conf >= 0.55
        r = fwd[test]
        reports.append(
            FoldReport(
                fold=k,
                train_bars=int(train.sum()),
                test_start=_iso(int(bars.ts_ns[test_start])),
                test_end=_iso(int(bars.ts_ns[test_end - 1])),
                test_bars=int(test.sum()),
                accuracy=float((pred == (yt == 1.0)).mean()),
                base_rate_up=float(yt.mean()),
                log_loss=float(log_loss(yt, p, labels=[0.0, 1.0])),
                auc=float(roc_auc_score(yt, p)) if 0.0 < yt.mean() < 1.0 else None,
                confident_share=float(sure.mean()),
                confident_accuracy=float((pred[sure] == (yt[sure] == 1.0)).mean()) if sure.any() else None,
                mean_return_when_up=float(r[pred].mean()) if pred.any() else None,
                mean_return_when_down=float(r[~pred].mean()) if (~pred).any() else None,
            )
        )
    return reports


def report_dicts(reports: Sequence[FoldReport]) -> list[dict[str, Any]]:
    return [asdict(r) for r in reports]
