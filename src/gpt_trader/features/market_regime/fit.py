"""Fit the regime HMM offline (hmmlearn) and export it for the live loop (`live_trade.regime.HmmModel`).

The features are those of `live_trade.regime.features`, standardized by their training mean and
standard deviation. States are named by their means: the most volatile state is `high_volatility`
(`crash` when its trend is strongly negative), then among the others the lowest trend is
`trending_down`, the highest `trending_up`, and the rest `ranging`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gpt_trader.features.live_trade.regime import FEATURES, FeatureParams, HmmModel, Regime
from gpt_trader.features.market_regime.series import feature_rows

if TYPE_CHECKING:
    from gpt_trader.features.backtest.bars import Bars

CRASH_TREND_Z = -1.5  # a volatile state whose mean trend_z is below this is a crash


def label_states(means: Sequence[Sequence[float]]) -> list[Regime]:
    """Regime names for states given their mean features in original units (trend_z, vol_ratio, ...)."""
    k = len(means)
    labels = [Regime.RANGING] * k
    volatile = max(range(k), key=lambda s: means[s][1])
    labels[volatile] = Regime.CRASH if means[volatile][0] <= CRASH_TREND_Z else Regime.HIGH_VOL
    rest = sorted((s for s in range(k) if s != volatile), key=lambda s: means[s][0])
    if len(rest) >= 2:
        labels[rest[0]], labels[rest[-1]] = Regime.TREND_DOWN, Regime.TREND_UP
    return labels


def fit_hmm(
    series: Sequence[Bars],
    params: FeatureParams | None = None,
    *,
    states: int = 4,
    filter_bars: int = 48,
    seed: int = 7,
    iterations: int = 200,
) -> HmmModel:
    """Fit a diagonal Gaussian HMM on the features of every bar of `series` (each series a sequence)."""
    import hmmlearn
    import numpy as np
    from hmmlearn.hmm import GaussianHMM

    if not 2 <= states <= 8:
        raise ValueError(f"states must be in [2, 8], got {states}")
    p = params or FeatureParams()
    chunks = []
    for bars in series:
        rows = [r for r in feature_rows(bars, p) if r is not None]
        if rows:
            chunks.append(np.array(rows, dtype=np.float64))
    if not chunks or sum(len(c) for c in chunks) < states * 50:
        raise ValueError(f"too few bars with features to fit {states} states (need {states * 50})")
    x = np.concatenate(chunks)
    center, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0.0] = 1.0
    z = (x - center) / scale
    model = GaussianHMM(n_components=states, covariance_type="diag", n_iter=iterations, random_state=seed)
    model.fit(z, lengths=[len(c) for c in chunks])
    variances = np.array([np.diag(c) for c in model.covars_])
    original = model.means_ * scale + center
    names = [b.symbol for b in series]
    return HmmModel(
        features=p,
        feature_names=list(FEATURES),
        center=center.tolist(),
        scale=scale.tolist(),
        startprob=model.startprob_.tolist(),
        transmat=model.transmat_.tolist(),
        means=model.means_.tolist(),
        variances=variances.tolist(),
        labels=label_states(original.tolist()),
        filter_bars=filter_bars,
        trained_on=f"{','.join(names)}: {sum(len(c) for c in chunks)} bars",
        library=f"hmmlearn {hmmlearn.__version__}, numpy {np.__version__}",
    )
