"""A trained direction model as the live loop uses it: pure Python, loaded from an exported JSON file.

`features.ml_strategy` trains a logistic regression (scikit-learn) on the features named here and
exports an `MlModel`: its feature names, standardization, coefficients, the label horizon, the training
window, parameters, library versions and a SHA-256 over all of it. Loading checks the hash and refuses
a model that names a feature this code cannot compute, so the live loop never guesses an input.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path

import msgspec

from gpt_trader.features.live_trade import indicators as ind
from gpt_trader.features.live_trade.regime import FeatureParams, Regime, RuleDetector, window_features
from gpt_trader.features.live_trade.strategies.base import BarWindow

_REGIME_FEATURES = FeatureParams()
_RULES = RuleDetector()


def _regime_block(window: BarWindow) -> dict[str, float] | None:
    f = window_features(window, _REGIME_FEATURES)
    if f is None:
        return None
    regime = _RULES.classify_features(f)
    out = {"trend_z": f[0], "vol_ratio": f[1], "adx": f[2] / 100.0, "volume_ratio": math.log(max(f[3], 1e-9))}
    for r in (Regime.TREND_UP, Regime.TREND_DOWN, Regime.HIGH_VOL, Regime.CRASH):
        out[f"regime_{r.value}"] = 1.0 if regime is r else 0.0
    return out


#: every feature a model may use: name -> (bars needed, function of the window's last bars)
FEATURE_FUNCS: dict[str, tuple[int, Callable[[BarWindow], float]]] = {
    "ret_1": (2, lambda w: ind.momentum(w.close, 1)),
    "ret_4": (5, lambda w: ind.momentum(w.close, 4)),
    "ret_24": (25, lambda w: ind.momentum(w.close, 24)),
    "rsi_14": (15, lambda w: ind.rsi(w.close, 14) / 100.0),
    "vol_24": (25, lambda w: ind.realized_vol(w.close, 24)),
    "range_atr_14": (15, lambda w: ind.atr(w.high, w.low, w.close, 14) / w.close[-1] if w.close[-1] else 0.0),
    "sma_gap_20": (20, lambda w: w.close[-1] / ind.sma(w.close, 20) - 1.0),
}
REGIME_FEATURE_NAMES = (
    "trend_z",
    "vol_ratio",
    "adx",
    "volume_ratio",
    *(f"regime_{r.value}" for r in (Regime.TREND_UP, Regime.TREND_DOWN, Regime.HIGH_VOL, Regime.CRASH)),
)
KNOWN_FEATURES = (*FEATURE_FUNCS, *REGIME_FEATURE_NAMES)
DEFAULT_FEATURES = KNOWN_FEATURES


def features_need(names: tuple[str, ...] | list[str]) -> int:
    need = 1
    for name in names:
        need = max(need, _REGIME_FEATURES.need if name in REGIME_FEATURE_NAMES else FEATURE_FUNCS[name][0])
    return need


def check_features(names: list[str] | tuple[str, ...]) -> None:
    unknown = [n for n in names if n not in KNOWN_FEATURES]
    if unknown:
        raise ValueError(f"features {unknown} cannot be computed here; known: {list(KNOWN_FEATURES)}")


def compute_features(window: BarWindow, names: tuple[str, ...] | list[str]) -> list[float] | None:
    """The named features at the window's last bar, None while warming up."""
    if len(window) < features_need(names):
        return None
    regime = _regime_block(window) if any(n in REGIME_FEATURE_NAMES for n in names) else None
    out = []
    for name in names:
        if name in REGIME_FEATURE_NAMES:
            assert regime is not None
            out.append(regime[name])
        else:
            out.append(FEATURE_FUNCS[name][1](window))
    return out


class MlModel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An exported binary direction model: P(up over the next `horizon` bars) = logistic(w . z + b)."""

    kind: str = "logistic_direction"
    features: list[str]
    center: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    horizon: int
    symbol: str
    train_start: str
    train_end: str  # last bar whose label was known inside the training window
    until: str | None  # --until given at training (None: the whole file)
    params: dict[str, float | int | str]
    library: dict[str, str]
    samples: int
    sha256: str = ""

    def body_digest(self) -> str:
        """SHA-256 of every field but `sha256` itself."""
        return hashlib.sha256(msgspec.json.encode(msgspec.structs.replace(self, sha256=""))).hexdigest()

    def sealed(self) -> MlModel:
        return msgspec.structs.replace(self, sha256=self.body_digest())

    @property
    def need(self) -> int:
        return features_need(self.features)

    def probability_up(self, x: list[float]) -> float:
        s = self.intercept
        for xi, c, sc, w in zip(x, self.center, self.scale, self.coef, strict=True):
            s += w * (xi - c) / sc
        if s >= 0:
            return 1.0 / (1.0 + math.exp(-s))
        e = math.exp(s)
        return e / (1.0 + e)

    def predict(self, window: BarWindow) -> tuple[str, float] | None:
        """("up" | "down", confidence 0.5..1) at the window's last bar; None while warming up."""
        x = compute_features(window, self.features)
        if x is None:
            return None
        p = self.probability_up(x)
        return ("up", p) if p >= 0.5 else ("down", 1.0 - p)


def load_model(path: str | Path) -> MlModel:
    """Read an exported model; refuse a changed file or features this code cannot compute."""
    try:
        model = msgspec.json.decode(Path(path).read_bytes(), type=MlModel)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"ml model {path}: {exc}") from None
    if model.sha256 != model.body_digest():
        raise ValueError(f"ml model {path}: sha256 does not match its contents (edited or corrupt)")
    try:
        check_features(model.features)
    except ValueError as exc:
        raise ValueError(f"ml model {path}: {exc}") from None
    n = len(model.features)
    if not (len(model.center) == len(model.scale) == len(model.coef) == n):
        raise ValueError(f"ml model {path}: {n} features but {len(model.coef)} coefficients")
    return model
