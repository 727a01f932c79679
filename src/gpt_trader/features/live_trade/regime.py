"""Online market-regime classification for the live loop: pure Python, from a window of bars.

Two detectors share one feature set (computed by `indicators` over the window, so the live value equals
the research value at the same bar):
- `RuleDetector`: transparent thresholds (`RuleParams`, bounded like strategy parameters).
- `HmmDetector`: a Gaussian HMM fitted offline by `features.market_regime` (hmmlearn) and exported as
  `HmmModel` JSON; online it runs the forward filter over the last `filter_bars` feature rows of the
  window and takes the most probable state. No scikit-learn or numpy is imported here.

Both are functions of the window alone (no state carried between bars), so the live bot, the replay
and a research timeline give the same regime at the same bar, and nothing after a bar can change it.
"""

from __future__ import annotations

import hashlib
import math
import operator
from collections import deque
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Protocol

import msgspec

from gpt_trader.features.live_trade import indicators as ind
from gpt_trader.features.live_trade.strategies.base import BarWindow


class Regime(str, Enum):
    TREND_UP = "trending_up"
    TREND_DOWN = "trending_down"
    RANGING = "ranging"
    HIGH_VOL = "high_volatility"
    CRASH = "crash"
    UNKNOWN = "unknown"  # not enough bars yet


FEATURES = ("trend_z", "vol_ratio", "adx", "volume_ratio", "return_1")


class FeatureParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Look-backs in bars: `horizon` for trend and short volatility, `horizon * long_mult` for the
    baseline volatility, `adx_period` for trend strength."""

    horizon: Annotated[int, msgspec.Meta(ge=4, le=500)] = 24
    long_mult: Annotated[int, msgspec.Meta(ge=2, le=20)] = 5
    adx_period: Annotated[int, msgspec.Meta(ge=2, le=100)] = 14

    @property
    def need(self) -> int:
        return max(self.horizon * self.long_mult + 1, 2 * self.adx_period + 1, self.horizon + 2)


def features(
    close: Sequence[float], high: Sequence[float], low: Sequence[float], volume: Sequence[float], p: FeatureParams
) -> tuple[float, ...] | None:
    """(trend_z, vol_ratio, adx, volume_ratio, return_1) at the last bar, None while warming up.

    trend_z: the `horizon` log return over its expected size under the baseline volatility;
    vol_ratio: short over baseline realized volatility; adx 0..100; volume_ratio: last bar's volume
    over the horizon's mean; return_1: the last bar's log return.
    """
    if len(close) < p.need:
        return None
    h = p.horizon
    vol_long = ind.realized_vol(close, h * p.long_mult)
    vol_short = ind.realized_vol(close, h)
    drift = ind.momentum(close, h)
    trend_z = drift / (vol_long * math.sqrt(h)) if vol_long > 0.0 else 0.0
    vol_ratio = vol_short / vol_long if vol_long > 0.0 else 1.0
    return (
        trend_z,
        vol_ratio,
        ind.adx(high, low, close, p.adx_period),
        ind.volume_ratio(volume, h),
        ind.momentum(close, 1),
    )


def window_features(window: BarWindow, p: FeatureParams) -> tuple[float, ...] | None:
    return features(window.close, window.high, window.low, window.volume, p)


class RuleParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Thresholds of the transparent detector (see `RuleDetector.classify_features`)."""

    features: FeatureParams = FeatureParams()
    high_vol_ratio: Annotated[float, msgspec.Meta(ge=1.0, le=10.0)] = 1.6
    crash_z: Annotated[float, msgspec.Meta(le=-0.5, ge=-20.0)] = -2.5
    trend_adx: Annotated[float, msgspec.Meta(ge=0.0, le=100.0)] = 25.0
    trend_z: Annotated[float, msgspec.Meta(ge=0.0, le=10.0)] = 0.75


class RegimeDetector(Protocol):
    """What the live loop and strategies call: how many bars it needs, and the regime at the last one."""

    name: str

    @property
    def need(self) -> int: ...

    def classify(self, window: BarWindow) -> Regime: ...


class RuleDetector:
    """Transparent rules over the features: crash, then high volatility, then trend, else ranging."""

    name = "rules"

    def __init__(self, params: RuleParams | None = None) -> None:
        self.p = params or RuleParams()

    @property
    def need(self) -> int:
        return self.p.features.need

    def classify_features(self, f: tuple[float, ...] | None) -> Regime:
        if f is None:
            return Regime.UNKNOWN
        trend_z, vol_ratio, adx = f[0], f[1], f[2]
        p = self.p
        if trend_z <= p.crash_z and vol_ratio >= p.high_vol_ratio:
            return Regime.CRASH
        if vol_ratio >= p.high_vol_ratio:
            return Regime.HIGH_VOL
        if adx >= p.trend_adx and trend_z >= p.trend_z:
            return Regime.TREND_UP
        if adx >= p.trend_adx and trend_z <= -p.trend_z:
            return Regime.TREND_DOWN
        return Regime.RANGING

    def classify(self, window: BarWindow) -> Regime:
        return self.classify_features(window_features(window, self.p.features))


class HmmModel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An exported diagonal Gaussian HMM over standardized features; what the live loop loads."""

    features: FeatureParams
    feature_names: list[str]
    center: list[float]  # standardization: (x - center) / scale, per feature
    scale: list[float]
    startprob: list[float]
    transmat: list[list[float]]
    means: list[list[float]]  # per state, standardized units
    variances: list[list[float]]
    labels: list[Regime]  # regime of each state
    filter_bars: int = 48
    trained_on: str = ""
    library: str = ""

    def digest(self) -> str:
        return hashlib.sha256(msgspec.json.encode(self)).hexdigest()


def load_hmm(path: str | Path) -> HmmModel:
    """Read an exported model, refusing one whose features this code does not compute."""
    try:
        model = msgspec.json.decode(Path(path).read_bytes(), type=HmmModel)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"regime model {path}: {exc}") from None
    if tuple(model.feature_names) != FEATURES:
        raise ValueError(f"regime model {path}: features {model.feature_names} are not the live ones {list(FEATURES)}")
    return model


class HmmDetector:
    """Forward filter of an exported HMM over the last `filter_bars` feature rows of the window."""

    name = "hmm"

    def __init__(self, model: HmmModel) -> None:
        self.model = model
        k = len(model.startprob)
        self._columns = [list(col) for col in zip(*model.transmat, strict=True)]  # P(to s | from j) by s
        self._log_norm = [-0.5 * sum(math.log(2.0 * math.pi * v) for v in model.variances[s]) for s in range(k)]

    @property
    def need(self) -> int:
        return self.model.features.need + self.model.filter_bars - 1

    def loglik(self, row: tuple[float, ...]) -> list[float]:
        """Log density of one feature row under each state."""
        m = self.model
        z = [(x - c) / s for x, c, s in zip(row, m.center, m.scale, strict=True)]
        out = []
        for s in range(len(m.startprob)):
            q = 0.0
            for zi, mu, var in zip(z, m.means[s], m.variances[s], strict=True):
                q += (zi - mu) ** 2 / var
            out.append(self._log_norm[s] - 0.5 * q)
        return out

    def filter(self, logliks: Sequence[list[float]]) -> Regime:
        """The regime of the most probable state after filtering rows' log densities (oldest first)."""
        if not logliks:
            return Regime.UNKNOWN
        m = self.model
        k = len(m.startprob)
        columns, exp, mul = self._columns, math.exp, operator.mul
        alpha = list(m.startprob)
        for i, ll in enumerate(logliks):
            top = max(ll)
            if i > 0:
                alpha = [sum(map(mul, alpha, col)) for col in columns]
            alpha = [a * exp(v - top) for a, v in zip(alpha, ll, strict=True)]
            total = sum(alpha)
            alpha = [a / total for a in alpha] if total > 0.0 else [1.0 / k] * k
        best = max(range(k), key=lambda s: alpha[s])
        return m.labels[best]

    def classify(self, window: BarWindow) -> Regime:
        m = self.model
        n = len(window)
        if n < self.need:
            return Regime.UNKNOWN
        close, high, low, volume = window.close, window.high, window.low, window.volume
        rows = []
        for end in range(n - m.filter_bars + 1, n + 1):
            f = features(close[:end], high[:end], low[:end], volume[:end], m.features)
            assert f is not None  # need covers the first row's warm-up
            rows.append(self.loglik(f))
        return self.filter(rows)


def make_detector(kind: str, model_path: str | Path | None = None) -> RegimeDetector:
    """`rules`, or `hmm` with an exported model file."""
    if kind == "rules":
        return RuleDetector()
    if kind == "hmm":
        if model_path is None:
            raise ValueError("detector 'hmm' needs a model file (perps-bot regime fit --out MODEL)")
        return HmmDetector(load_hmm(model_path))
    raise ValueError(f"unknown regime detector {kind!r}; allowed: ['rules', 'hmm']")


#: stable numeric codes for the `regime.<symbol>` gauge
REGIME_CODES = {r: i for i, r in enumerate(Regime)}


class RegimeTracker:
    """The live loop's regime per symbol: keeps the last `need` bars of each symbol, classifies each
    new bar, and reports changes (the bot logs, journals and gauges them)."""

    def __init__(self, detector: RegimeDetector | None = None) -> None:
        self.detector: RegimeDetector = detector or RuleDetector()
        self._bars: dict[str, deque[tuple[float, float, float, float, float]]] = {}
        self.current: dict[str, Regime] = {}

    @property
    def need(self) -> int:
        return self.detector.need

    def add_bar(self, symbol: str, bar: tuple[float, float, float, float, float]) -> None:
        self._bars.setdefault(symbol, deque(maxlen=self.need)).append(bar)

    def update(self, symbol: str) -> tuple[Regime, Regime | None]:
        """(regime now, the previous regime if it just changed else None)."""
        regime = self.detector.classify(BarWindow.from_rows(self._bars.get(symbol, ())))
        previous = self.current.get(symbol)
        self.current[symbol] = regime
        return regime, (previous if previous is not None and previous is not regime else None)
