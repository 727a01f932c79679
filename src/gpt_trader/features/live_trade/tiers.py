"""Equity tiers: how much an account of a given size may do (pure Python, for the live loop and backtests).

A tier sets the number of concurrent positions, the risk per trade (the share of equity one position
may commit), whether perpetuals are allowed, and the sizing method. The tier follows equity with
hysteresis: up as soon as equity reaches the next tier's floor, down only once it falls
`hysteresis_pct` below the current floor, so an account at a boundary does not flap.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec


class Tier(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One equity band and what it allows."""

    name: str
    min_equity: Decimal
    max_positions: Annotated[int, msgspec.Meta(ge=1, le=100)]
    #: share of equity one position may commit (its notional; without a stop all of it is at risk)
    risk_per_trade_pct: Decimal
    allow_perps: bool = False
    #: equity_fraction: equity x risk_per_trade_pct; equal_weight: equity / max_positions
    sizing: Literal["equity_fraction", "equal_weight"] = "equity_fraction"

    def __post_init__(self) -> None:
        if self.min_equity < 0:
            raise ValueError(f"tier {self.name!r}: min_equity must be >= 0, got {self.min_equity}")
        if not 0 < self.risk_per_trade_pct <= 100:
            raise ValueError(
                f"tier {self.name!r}: risk_per_trade_pct must be in (0, 100], got {self.risk_per_trade_pct}"
            )

    def budget(self, equity: float) -> float:
        """Quote notional one new position may use at this equity (before the cash cap)."""
        if self.sizing == "equal_weight":
            return equity / self.max_positions
        return equity * float(self.risk_per_trade_pct) / 100.0


class TierTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Tiers by ascending floor (the first floor is 0) and the hysteresis of a step down."""

    tiers: list[Tier]
    hysteresis_pct: Decimal = Decimal(5)

    def __post_init__(self) -> None:
        if not 0 <= self.hysteresis_pct <= 50:
            raise ValueError(f"hysteresis_pct must be in [0, 50], got {self.hysteresis_pct}")
        if not self.tiers or self.tiers[0].min_equity != 0:
            raise ValueError("tiers must start at min_equity 0")
        floors = [t.min_equity for t in self.tiers]
        if floors != sorted(set(floors)):
            raise ValueError(f"tier floors must be strictly ascending, got {[str(f) for f in floors]}")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique, got {names}")

    def by_equity(self, equity: float) -> Tier:
        """The tier whose band holds `equity`, without hysteresis."""
        chosen = self.tiers[0]
        for tier in self.tiers:
            if equity >= float(tier.min_equity):
                chosen = tier
        return chosen


DEFAULT_TIERS = TierTable(
    tiers=[
        Tier(
            name="micro", min_equity=Decimal(0), max_positions=2, risk_per_trade_pct=Decimal(40), sizing="equal_weight"
        ),
        Tier(name="small", min_equity=Decimal(1_000), max_positions=4, risk_per_trade_pct=Decimal(25)),
        Tier(
            name="medium", min_equity=Decimal(10_000), max_positions=6, risk_per_trade_pct=Decimal(15), allow_perps=True
        ),
        Tier(
            name="large", min_equity=Decimal(100_000), max_positions=10, risk_per_trade_pct=Decimal(8), allow_perps=True
        ),
    ]
)


def load_tiers(raw: object) -> TierTable:
    """A tier table from plain data (a profile section or JSON), with errors naming the key."""
    try:
        return msgspec.convert(raw, TierTable, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"tiers: {exc}") from None


class TierChange(msgspec.Struct, frozen=True, kw_only=True):
    """A move between tiers, for the log, the journal and reports."""

    previous: str
    tier: str
    equity: float


class TierTracker:
    """The current tier of one account, moved by equity with hysteresis."""

    def __init__(self, table: TierTable = DEFAULT_TIERS, equity: float | None = None) -> None:
        self.table = table
        self.tier = table.by_equity(equity) if equity is not None else table.tiers[0]

    def update(self, equity: float) -> TierChange | None:
        target = self.table.by_equity(equity)
        current = self.tier
        if target.min_equity > current.min_equity:
            self.tier = target
        elif target.min_equity < current.min_equity:
            floor = float(current.min_equity) * (1.0 - float(self.table.hysteresis_pct) / 100.0)
            if equity >= floor:
                return None
            self.tier = target
        else:
            return None
        return TierChange(previous=current.name, tier=self.tier.name, equity=equity)
