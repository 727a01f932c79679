"""Strategy contract shared by the live bot and both backtest engines.

A strategy implements one method, `decide(symbol, window, position_size)`: it sees a `BarWindow` of
completed OHLCV bars (oldest first, the bar just closed last; plus the funding rate and the book's top
where the venue has them) and the current position, and returns a `Decision` (hold / buy / sell /
close, a reason and a confidence). The decision may depend on the position's sign, not its size (the
fast engine asks with a unit position).

Optionally it also offers `signals(bars) -> Signals`, a vectorized form over whole columns that the
fast engine uses instead of calling `decide` per bar; the parity tests find every strategy that has one
and hold it to `decide` at every bar (long and short).

Parameters are a frozen msgspec Struct per strategy (`Params`) with bounds (`msgspec.Meta(ge=, le=)`):
they are validated on construction with errors naming the key and what is allowed, and the bounds are
the optimizer's search space (`param_space`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, NamedTuple, Protocol

import msgspec

if TYPE_CHECKING:  # numpy is for research paths only; never imported by the live loop
    import numpy as np


class Action(str, Enum):
    HOLD = "HOLD"
    BUY = "BUY"  # open or add long (or cover a short)
    SELL = "SELL"  # open or add short (perps) / reduce long
    CLOSE = "CLOSE"  # flatten the position


class Exits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Protective exit distances carried by an entry, so a position is never left naked between bars.

    `unit` "pct": fractions of the entry price (0.02 = 2 %); "atr": multiples of the average true range
    over `atr_period` completed bars. `stop_loss` and `trailing` place a stop under a long (over a
    short); `take_profit` a limit on the other side. `stop_slippage` is how far through the stop the
    stop-limit's limit price sits (a fraction of the stop price). The profile's `exits:` section is the
    same struct (the defaults for decisions that carry none).
    """

    unit: Literal["pct", "atr"] = "pct"
    stop_loss: Annotated[float, msgspec.Meta(gt=0)] | None = None
    take_profit: Annotated[float, msgspec.Meta(gt=0)] | None = None
    trailing: Annotated[float, msgspec.Meta(gt=0)] | None = None
    atr_period: Annotated[int, msgspec.Meta(ge=1, le=500)] = 14
    stop_slippage: Annotated[float, msgspec.Meta(gt=0, lt=0.5)] = 0.01

    def __post_init__(self) -> None:
        if self.stop_loss is None and self.trailing is None:
            raise ValueError("exits: give stop_loss or trailing (a take_profit alone leaves the downside naked)")
        if self.unit == "pct":
            for name in ("stop_loss", "take_profit", "trailing"):
                value = getattr(self, name)
                if value is not None and value >= 1:
                    raise ValueError(f"exits.{name} is a fraction of the price with unit pct (0 < x < 1), got {value}")


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What a strategy wants on this bar, why, and how sure it is (0..1 scales Kelly-type sizing);
    an entry may carry its `exits` (None: the profile's `exits:` defaults, if any)."""

    action: Action
    reason: str
    confidence: float = 1.0
    exits: Exits | None = None

    @classmethod
    def hold(cls, reason: str = "no signal") -> Decision:
        return cls(action=Action.HOLD, reason=reason, confidence=0.0)


class BarWindow:
    """The completed bars a strategy sees, oldest first; a view over columns (no copy until read).

    `funding_rate` (perps: the current period's rate), `bid` and `ask` (the book's top) are None where
    the venue or the backtest has no such data.
    """

    __slots__ = ("_c", "_h", "_hi", "_l", "_lo", "_o", "_v", "ask", "bid", "funding_rate")

    def __init__(
        self,
        open_: Sequence[float],
        high: Sequence[float],
        low: Sequence[float],
        close: Sequence[float],
        volume: Sequence[float],
        lo: int = 0,
        hi: int | None = None,
        *,
        funding_rate: float | None = None,
        bid: float | None = None,
        ask: float | None = None,
    ) -> None:
        self._o, self._h, self._l, self._c, self._v = open_, high, low, close, volume
        self._lo = max(0, lo)
        self._hi = len(close) if hi is None else hi
        self.funding_rate, self.bid, self.ask = funding_rate, bid, ask

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[float, float, float, float, float]], **extra: Any) -> BarWindow:
        """From (open, high, low, close, volume) rows, oldest first (the live loop's history)."""
        if not rows:
            return cls([], [], [], [], [], **extra)
        o, h, lo, c, v = (list(col) for col in zip(*rows, strict=True))
        return cls(o, h, lo, c, v, **extra)

    @classmethod
    def from_closes(cls, closes: Sequence[float]) -> BarWindow:
        """Closes only (open = high = low = close, no volume): for tests and close-only data."""
        values = list(closes)
        return cls(values, values, values, values, [0.0] * len(values))

    def __len__(self) -> int:
        return self._hi - self._lo

    def _view(self, col: Sequence[float]) -> Sequence[float]:
        if self._lo == 0 and self._hi == len(col):
            return col
        return col[self._lo : self._hi]

    @property
    def open(self) -> Sequence[float]:
        return self._view(self._o)

    @property
    def high(self) -> Sequence[float]:
        return self._view(self._h)

    @property
    def low(self) -> Sequence[float]:
        return self._view(self._l)

    @property
    def close(self) -> Sequence[float]:
        return self._view(self._c)

    @property
    def volume(self) -> Sequence[float]:
        return self._view(self._v)


class VectorBars(Protocol):
    """Whole OHLCV columns (numpy float64, oldest first) as the fast engine hands them to `signals`."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    funding: np.ndarray


class Signals(NamedTuple):
    """Boolean arrays, one value per bar, each computed on bar t's close.

    long_entry[t]: `decide` on a flat book says BUY; long_exit[t]: on a long book it says CLOSE or SELL;
    short_entry[t]: flat, SELL; short_exit[t]: short, CLOSE or BUY. None: never (long-only strategies).
    """

    long_entry: np.ndarray
    long_exit: np.ndarray
    short_entry: np.ndarray | None = None
    short_exit: np.ndarray | None = None


class NoParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Parameters of a strategy that has none."""


class Strategy:
    """Base class: subclasses set `name` and `Params` and implement `decide` (and `history_needed`).

    `self.p` is the validated, frozen parameter struct; `self.params` the same as a plain dict (for
    configs, journals and reports). A vectorized `signals(bars) -> Signals` is optional.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[msgspec.Struct]] = NoParams

    def __init__(self, **params: Any) -> None:
        self.p: Any = load_params(self.name or type(self).__name__, self.Params, params)
        self.params: dict[str, Any] = msgspec.structs.asdict(self.p)

    @property
    def history_needed(self) -> int:
        """How many completed bars `decide` needs (the caller keeps at least this many)."""
        raise NotImplementedError(f"{type(self).__name__}.history_needed")

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        raise NotImplementedError(f"{type(self).__name__}.decide")


def has_signals(strategy: Strategy) -> bool:
    """Whether the strategy offers the optional vectorized `signals`."""
    return callable(getattr(strategy, "signals", None))


# ---------------------------------------------------------------- parameters


class ParamBound(NamedTuple):
    """One searchable parameter: its kind ("int", "float", "bool"), bounds (None: unbounded) and default."""

    kind: str
    low: float | None
    high: float | None
    default: Any


def param_space(params_type: type[msgspec.Struct]) -> dict[str, ParamBound]:
    """The bounds of every numeric or boolean field of a strategy's `Params` (what the optimizer
    searches); other fields (a model file path, say) are settings, not searched."""
    from msgspec import inspect

    info = inspect.type_info(params_type)
    assert isinstance(info, inspect.StructType)
    out: dict[str, ParamBound] = {}
    for f in info.fields:
        t = f.type
        default = None if f.default is inspect.NODEFAULT else f.default
        if isinstance(t, inspect.BoolType):
            out[f.name] = ParamBound("bool", 0, 1, default)
        elif isinstance(t, inspect.IntType | inspect.FloatType):
            low = t.ge if t.ge is not None else t.gt
            high = t.le if t.le is not None else t.lt
            out[f.name] = ParamBound("int" if isinstance(t, inspect.IntType) else "float", low, high, default)
    return out


def required_params(cls: type[Strategy]) -> list[str]:
    """Parameters without a default (such a strategy cannot run on its defaults alone)."""
    return [f for f in cls.Params.__struct_fields__ if f not in _defaults(cls.Params)]


def _defaults(params_type: type[msgspec.Struct]) -> set[str]:
    fields = params_type.__struct_fields__
    return set(fields[len(fields) - len(params_type.__struct_defaults__) :])


def describe_params(params_type: type[msgspec.Struct]) -> str:
    parts = [f"{name} (required)" for name in params_type.__struct_fields__ if name not in _defaults(params_type)]
    for name, b in param_space(params_type).items():
        rng = "" if b.kind == "bool" else f" in [{b.low}, {b.high}]"
        parts.append(f"{name}: {b.kind}{rng} (default {b.default})")
    return "; ".join(parts) or "none"


def load_params(strategy: str, params_type: type[msgspec.Struct], raw: dict[str, Any]) -> Any:
    """Validate raw parameters (values may be strings, as from the command line) into `params_type`."""
    allowed = [f for f in params_type.__struct_fields__]
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ValueError(f"strategy {strategy!r}: unknown parameter(s) {unknown}; allowed: {allowed}")
    try:
        return msgspec.convert(raw, params_type, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(
            f"strategy {strategy!r}: invalid parameters {raw}: {exc}; allowed: {describe_params(params_type)}"
        ) from None


# ---------------------------------------------------------------- registry and loading

_REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtin() -> None:
    # Imported for their @register side effect; cheap, pure-Python modules.
    import pkgutil

    import gpt_trader.features.live_trade.strategies as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name != "base":
            importlib.import_module(f"{pkg.__name__}.{mod.name}")


def available_strategies() -> list[str]:
    """The names of the strategies shipped in the package (plus any registered since)."""
    _load_builtin()
    return sorted(_REGISTRY)


def default_strategies() -> list[str]:
    """The shipped strategies that run on their default parameters (no required setting such as a
    model file): what parity and lean-import tests sweep automatically."""
    return [n for n in available_strategies() if not required_params(_REGISTRY[n])]


def _import(name: str, module_name: str) -> Any:
    if module_name.endswith(".py"):  # a file of the user's, anywhere on disk
        from importlib import util
        from pathlib import Path

        path = Path(module_name).expanduser().resolve()
        spec = util.spec_from_file_location(f"user_strategy_{path.stem}", path)
        if spec is None or spec.loader is None or not path.is_file():
            raise ValueError(f"strategy {name!r}: no such file {str(path)!r}")
        module = util.module_from_spec(spec)
        # registered before it runs: msgspec resolves a Params struct's string annotations (a file with
        # `from __future__ import annotations`) through sys.modules[cls.__module__]
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(spec.name, None)
            raise
        return module
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"strategy {name!r}: cannot import module {module_name!r}: {exc}") from None


def strategy_class(name: str) -> type[Strategy]:
    """A registered name, or `module.path:ClassName` / `path/to/file.py:ClassName` for a strategy kept
    outside the package."""
    if ":" in name:
        module_name, _, attr = name.rpartition(":")
        module = _import(name, module_name)
        cls = getattr(module, attr, None)
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise ValueError(f"strategy {name!r}: {module_name} has no Strategy subclass named {attr!r}")
        return cls
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; available: {sorted(_REGISTRY)} or module.path:ClassName"
        ) from None


def get_strategy(name: str, **params: Any) -> Strategy:
    return strategy_class(name)(**params)
