"""A detector over a whole series of bars: the regime at every bar, and statistics per regime.

Each bar's features come from the last `need` bars only (what the live loop holds), through the same
functions the live detectors call, so a timeline equals what the bot would have said bar by bar.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gpt_trader.features.live_trade.regime import (
    FeatureParams,
    HmmDetector,
    Regime,
    RegimeDetector,
    RuleDetector,
    features,
)

if TYPE_CHECKING:
    from gpt_trader.features.backtest.bars import Bars


def feature_rows(bars: Bars, p: FeatureParams) -> list[tuple[float, ...] | None]:
    """Features at every bar from the window of the last `p.need` bars (None while warming up)."""
    close, high = bars.close.tolist(), bars.high.tolist()
    low, volume = bars.low.tolist(), bars.volume.tolist()
    need = p.need
    out: list[tuple[float, ...] | None] = []
    for t in range(len(close)):
        lo = max(0, t + 1 - need)
        out.append(features(close[lo : t + 1], high[lo : t + 1], low[lo : t + 1], volume[lo : t + 1], p))
    return out


def regime_timeline(bars: Bars, detector: RegimeDetector) -> list[Regime]:
    """The regime the detector gives at every bar's close."""
    if isinstance(detector, RuleDetector):
        return [detector.classify_features(f) for f in feature_rows(bars, detector.p.features)]
    if isinstance(detector, HmmDetector):
        m = detector.model
        lls = [None if f is None else detector.loglik(f) for f in feature_rows(bars, m.features)]
        out = []
        for t in range(len(lls)):
            window = lls[t + 1 - m.filter_bars : t + 1] if t + 1 >= m.filter_bars else []
            if not window or window[0] is None:
                out.append(Regime.UNKNOWN)
            else:
                out.append(detector.filter([r for r in window if r is not None]))
        return out
    raise TypeError(f"no series form for detector {type(detector).__name__}")


def regime_stats(close: Sequence[float], regimes: Sequence[Regime]) -> dict[str, dict[str, float]]:
    """Per regime: share of classified bars, and the mean and standard deviation of the next bar's
    simple return (what holding through a bar so classified earned). Unknown bars are left out."""
    groups: dict[str, list[float]] = {}
    known = 0
    for t, regime in enumerate(regimes):
        if regime is Regime.UNKNOWN:
            continue
        known += 1
        ret = close[t + 1] / close[t] - 1.0 if t + 1 < len(close) and close[t] > 0 else None
        bucket = groups.setdefault(regime.value, [])
        if ret is not None:
            bucket.append(ret)
    out: dict[str, dict[str, float]] = {}
    for name in sorted(groups):
        rets = groups[name]
        count = sum(1 for r in regimes if r.value == name)
        mean = sum(rets) / len(rets) if rets else 0.0
        var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1) if len(rets) > 1 else 0.0
        out[name] = {"share": count / known, "mean_return": mean, "volatility": math.sqrt(var), "bars": count}
    return out


def runs(regimes: Sequence[Regime]) -> int:
    """How many times the regime changes (a stability figure: fewer is steadier)."""
    return sum(1 for a, b in itertools.pairwise(regimes) if a is not b)
