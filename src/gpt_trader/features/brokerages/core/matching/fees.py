"""Maker/taker fee tiers by trailing 30-day USD volume, as Coinbase Advanced Trade prices them."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from decimal import Decimal

import msgspec

D = Decimal


class FeeTier(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    usd_from: Decimal
    usd_to: Decimal | None  # None = no upper bound
    maker_fee_rate: Decimal
    taker_fee_rate: Decimal


def _tier(name: str, lo: str, hi: str | None, maker: str, taker: str) -> FeeTier:
    return FeeTier(
        name=name,
        usd_from=D(lo),
        usd_to=D(hi) if hi else None,
        maker_fee_rate=D(maker),
        taker_fee_rate=D(taker),
    )


#: Coinbase Advanced spot tiers (published 2024 schedule; approximate above Intro 1).
#: "Intro 1" matches the live sample in COINBASE.md.
COINBASE_SPOT_TIERS: tuple[FeeTier, ...] = (
    _tier("Intro 1", "0", "1000", "0.006", "0.012"),
    _tier("Intro 2", "1000", "10000", "0.0035", "0.0075"),
    _tier("Advanced 1", "10000", "50000", "0.0025", "0.004"),
    _tier("Advanced 2", "50000", "100000", "0.00125", "0.0025"),
    _tier("Advanced 3", "100000", "1000000", "0.00075", "0.002"),
    _tier("VIP 1", "1000000", "15000000", "0.0006", "0.0016"),
    _tier("VIP 2", "15000000", "75000000", "0.00035", "0.0012"),
    _tier("VIP 3", "75000000", "250000000", "0", "0.0008"),
    _tier("VIP 4", "250000000", "400000000", "0", "0.0005"),
    _tier("VIP 5", "400000000", None, "0", "0.0005"),
)


class FeeSchedule:
    """Chooses a tier from trailing volume. `override` pins one tier for everyone (backtests use this)."""

    def __init__(
        self,
        tiers: tuple[FeeTier, ...] | list[FeeTier] | None = None,
        *,
        override: FeeTier | None = None,
        perp_tiers: tuple[FeeTier, ...] | list[FeeTier] | None = None,
        window_days: int = 30,
    ) -> None:
        self.tiers: tuple[FeeTier, ...] = tuple(tiers) if tiers else COINBASE_SPOT_TIERS
        self.perp_tiers: tuple[FeeTier, ...] = tuple(perp_tiers) if perp_tiers else self.tiers
        self.override = override
        self.window = timedelta(days=window_days)
        if window_days <= 0:
            raise ValueError(f"window_days must be > 0, got {window_days}")

    @classmethod
    def flat(cls, maker: Decimal | str, taker: Decimal | str, name: str = "flat") -> FeeSchedule:
        tier = FeeTier(name=name, usd_from=D(0), usd_to=None, maker_fee_rate=D(maker), taker_fee_rate=D(taker))
        return cls(override=tier)

    def tier_for(self, volume_usd: Decimal, *, perpetual: bool = False) -> FeeTier:
        if self.override is not None:
            return self.override
        tiers = self.perp_tiers if perpetual else self.tiers
        chosen = tiers[0]
        for tier in tiers:
            if volume_usd >= tier.usd_from:
                chosen = tier
        return chosen


class VolumeWindow:
    """Trailing notional traded by one account; pruned lazily as the clock moves."""

    __slots__ = ("_entries", "_total", "window")

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self._entries: deque[tuple[datetime, Decimal]] = deque()
        self._total = D(0)

    def add(self, ts: datetime, notional: Decimal) -> None:
        self._entries.append((ts, notional))
        self._total += notional

    def total(self, now: datetime) -> Decimal:
        cutoff = now - self.window
        entries = self._entries
        while entries and entries[0][0] <= cutoff:
            self._total -= entries.popleft()[1]
        return self._total


def compute_fee(notional: Decimal, rate: Decimal) -> Decimal:
    """Fee in quote currency: the exact product notional x rate, unrounded, as Coinbase reports a fill's
    `commission` (10 ADA at 0.392 with a 0.8 % taker rate is "0.03136", finer than the quote increment).
    Display code rounds; money code never does."""
    return notional * rate
