"""The search space: `--space 'fast=5..50,slow=20..200'` checked against the strategy's typed bounds.

Each entry is `name=low..high` (a range; `name=low..high:step` for a grid step), `name=a|b|c` (choices)
or `name=value` (fixed). Parameters the strategy has but `--space` does not name stay at their defaults;
with no `--space` at all, every searchable parameter spans its full declared bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gpt_trader.features.live_trade.strategies.base import ParamBound, Strategy, param_space

if TYPE_CHECKING:
    import optuna

GRID_MAX_POINTS = 100_000


@dataclass(frozen=True)
class ParamRange:
    """One searched parameter: a numeric range (with an optional grid step) or a list of choices."""

    name: str
    kind: str  # "int", "float", "bool"
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1))
        return trial.suggest_float(self.name, self.low, self.high, step=self.step)

    def grid(self) -> list[Any]:
        if self.choices is not None:
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise ValueError(f"--space {self.name}: a float range needs a step for --method grid (low..high:step)")
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]


@dataclass(frozen=True)
class SearchSpace:
    """The searched parameters of one strategy (and the fixed ones), validated against its bounds."""

    strategy: str
    ranges: tuple[ParamRange, ...]
    fixed: dict[str, Any]

    @classmethod
    def parse(cls, strategy_cls: type[Strategy], text: str | None) -> SearchSpace:
        bounds = param_space(strategy_cls.Params)
        name = strategy_cls.name
        if not bounds:
            raise ValueError(f"strategy {name!r} has no searchable parameters")
        if not text:
            return cls(name, tuple(_full_range(k, b) for k, b in bounds.items()), {})
        ranges: list[ParamRange] = []
        fixed: dict[str, Any] = {}
        for item in (p.strip() for p in text.split(",")):
            key, sep, spec = item.partition("=")
            key, spec = key.strip(), spec.strip()
            if not sep or not key or not spec:
                raise ValueError(f"--space entries are name=low..high, name=a|b or name=value; got {item!r}")
            if key not in bounds:
                raise ValueError(
                    f"--space: strategy {name!r} has no searchable parameter {key!r}; allowed: {sorted(bounds)}"
                )
            b = bounds[key]
            if key in fixed or any(r.name == key for r in ranges):
                raise ValueError(f"--space: {key!r} given twice")
            if ".." in spec:
                ranges.append(_range(name, key, b, spec))
            elif "|" in spec:
                values = tuple(_value(name, key, b, v.strip()) for v in spec.split("|"))
                ranges.append(ParamRange(key, b.kind, choices=values))
            else:
                fixed[key] = _value(name, key, b, spec)
        if not ranges:
            raise ValueError(f"--space {text!r} fixes every parameter; give at least one range (low..high)")
        return cls(name, tuple(ranges), fixed)

    def grid(self) -> dict[str, list[Any]]:
        grid = {r.name: r.grid() for r in self.ranges}
        if math.prod(len(v) for v in grid.values()) > GRID_MAX_POINTS:
            raise ValueError(
                f"--method grid: the space has more than {GRID_MAX_POINTS:,} points; add steps or narrow it"
            )
        return grid

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        params = dict(self.fixed)
        for r in self.ranges:
            params[r.name] = r.suggest(trial)
        return params

    def describe(self) -> str:
        parts = []
        for r in self.ranges:
            if r.choices is not None:
                parts.append(f"{r.name}={'|'.join(map(str, r.choices))}")
            else:
                parts.append(f"{r.name}={_fmt(r.low)}..{_fmt(r.high)}" + (f":{_fmt(r.step)}" if r.step else ""))
        parts += [f"{k}={v}" for k, v in self.fixed.items()]
        return ",".join(parts)


def _fmt(v: float | None) -> str:
    return "" if v is None else (str(int(v)) if float(v).is_integer() else str(v))


def _full_range(key: str, b: ParamBound) -> ParamRange:
    if b.kind == "bool":
        return ParamRange(key, "bool", choices=(False, True))
    if b.low is None or b.high is None:
        raise ValueError(f"parameter {key!r} is unbounded ({b.low}..{b.high}); give its range in --space")
    return ParamRange(key, b.kind, float(b.low), float(b.high))


def _range(strategy: str, key: str, b: ParamBound, spec: str) -> ParamRange:
    if b.kind == "bool":
        raise ValueError(f"--space {key}: a bool takes true|false, not a range")
    body, _, step_s = spec.partition(":")
    lo_s, _, hi_s = body.partition("..")
    lo, hi = _number(key, b, lo_s), _number(key, b, hi_s)
    step = _number(key, b, step_s) if step_s else None
    if lo >= hi:
        raise ValueError(f"--space {key}: low must be below high, got {spec!r}")
    if step is not None and step <= 0:
        raise ValueError(f"--space {key}: step must be > 0, got {step_s!r}")
    for v in (lo, hi):
        _check_bounds(strategy, key, b, v)
    return ParamRange(key, b.kind, lo, hi, step)


def _number(key: str, b: ParamBound, s: str) -> float:
    try:
        v = float(s.strip())
    except ValueError:
        raise ValueError(f"--space {key}: {s!r} is not a number") from None
    if b.kind == "int" and not v.is_integer():
        raise ValueError(f"--space {key}: an int parameter takes whole numbers, got {s!r}")
    return v


def _value(strategy: str, key: str, b: ParamBound, s: str) -> Any:
    if b.kind == "bool":
        low = s.lower()
        if low not in ("true", "false", "1", "0"):
            raise ValueError(f"--space {key}: a bool takes true or false, got {s!r}")
        return low in ("true", "1")
    v = _number(key, b, s)
    _check_bounds(strategy, key, b, v)
    return int(v) if b.kind == "int" else v


def _check_bounds(strategy: str, key: str, b: ParamBound, v: float) -> None:
    if (b.low is not None and v < b.low) or (b.high is not None and v > b.high):
        raise ValueError(f"--space {key}={_fmt(v)} is outside strategy {strategy!r}'s bounds [{b.low}, {b.high}]")
