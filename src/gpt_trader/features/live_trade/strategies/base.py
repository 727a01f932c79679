"""Strategy contract shared by the live bot and both backtest engines.

A strategy sees the closes of completed bars (oldest first, the current bar last) and the current
position, and returns a `Decision`. The same class also offers `signals()`, the vectorized form the
fast backtester uses; both must agree bar for bar (the parity tests hold them together).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

if TYPE_CHECKING:  # numpy is for research paths only; never imported by the live loop
    import numpy as np


class Action(str, Enum):
    HOLD = "HOLD"
    BUY = "BUY"  # open or add long (or cover a short)
    SELL = "SELL"  # open or add short (perps) / reduce long
    CLOSE = "CLOSE"  # flatten the position


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    action: Action
    reason: str
    confidence: float = 1.0  # 0..1, scales Kelly-type sizing

    @classmethod
    def hold(cls, reason: str = "no signal") -> Decision:
        return cls(action=Action.HOLD, reason=reason, confidence=0.0)


class Strategy:
    """Base class. Subclasses set `name`, accept their parameters as keyword arguments, and implement
    `decide` (live, incremental) and `signals` (vectorized)."""

    name: ClassVar[str] = ""
    #: parameter name -> default; unknown keys are a clear error
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"strategy {self.name!r}: unknown parameter(s) {unknown}; allowed: {sorted(self.defaults)}"
            )
        merged = {**self.defaults, **params}
        for key, default in self.defaults.items():
            value = merged[key]
            if isinstance(default, bool):
                merged[key] = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                merged[key] = int(value)
            elif isinstance(default, float):
                merged[key] = float(value)
        self.params: dict[str, Any] = merged
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the bad parameter."""

    @property
    def history_needed(self) -> int:
        """How many closes `decide` needs (the caller keeps at least this many)."""
        raise NotImplementedError(f"{type(self).__name__}.history_needed")

    def decide(self, symbol: str, closes: Sequence[float], position_size: Decimal) -> Decision:
        raise NotImplementedError(f"{type(self).__name__}.decide")

    def signals(self, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(entries, exits) boolean arrays, one per bar, computed on bar t's close."""
        raise NotImplementedError(f"{type(self).__name__}.signals (vectorized form)")


_REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtin() -> None:
    # Imported for their @register side effect; cheap, pure-Python modules.
    import importlib
    import pkgutil

    import gpt_trader.features.live_trade.strategies as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name != "base":
            importlib.import_module(f"{pkg.__name__}.{mod.name}")


def available_strategies() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_strategy(name: str, **params: Any) -> Strategy:
    _load_builtin()
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; available: {sorted(_REGISTRY)}") from None
    return cls(**params)


def sma(values: Sequence[float], n: int, end: int | None = None) -> float:
    """Simple moving average of the `n` values ending at index `end` (exclusive), summed oldest first.

    The summation order is part of the contract: the vectorized forms sum each window oldest first too,
    so both paths produce bit-identical averages.
    """
    stop = len(values) if end is None else end
    total = 0.0
    for v in values[stop - n : stop]:
        total += v
    return total / n


CrossFn = Callable[[float, float, float, float], bool]
