"""Risk thresholds. Every field has a safe default; profiles and env overrides tighten or loosen them.

Validation happens at load time (ConfigManager): a bad value names its key and the allowed range.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

GuardAction = Literal["warn", "block_entries", "reduce_only", "flatten", "halt"]
GUARD_ACTIONS: tuple[str, ...] = ("warn", "block_entries", "reduce_only", "flatten", "halt")

#: Every runtime guard, with what it does on a trip unless `RiskConfig.actions` says otherwise.
#: Symbol-scoped guards (stale_mark, volatility, liquidity, liquidation_buffer) apply block_entries and
#: flatten to their symbol only; account-scoped guards apply them to every symbol.
DEFAULT_ACTIONS: dict[str, GuardAction] = {
    "daily_loss": "reduce_only",
    "drawdown": "reduce_only",
    "error_rate": "halt",
    "api_errors": "reduce_only",
    "stale_mark": "block_entries",
    "liquidation_buffer": "flatten",
    "volatility": "block_entries",
    "liquidity": "block_entries",
    "consecutive_losses": "block_entries",
    "correlation": "block_entries",
}
GUARD_NAMES: tuple[str, ...] = tuple(DEFAULT_ACTIONS)

SPOT_LIMITS_FILE = "spot_top10.json"
PERPS_LIMITS_FILE = "perps.json"
NO_LIMITS_FILE = "none"

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]


def _check_range(name: str, value: Decimal | None, lo: Decimal, hi: Decimal | None = None) -> None:
    if value is None:
        return
    if value < lo or (hi is not None and value > hi):
        allowed = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise ValueError(f"{name} must be {allowed}, got {value}")


class SymbolLimit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-symbol caps (config/risk/spot_top10.json)."""

    max_notional: Decimal | None = None  # USD
    max_position_size: Decimal | None = None  # base units
    max_leverage: Decimal = Decimal("1")

    def __post_init__(self) -> None:
        _check_range("max_notional", self.max_notional, Decimal(0))
        _check_range("max_position_size", self.max_position_size, Decimal(0))
        _check_range("max_leverage", self.max_leverage, Decimal(1), Decimal(100))


class RiskConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # --- account-level loss limits
    max_daily_loss_pct: Decimal = Decimal("5")  # % of start-of-day equity
    max_daily_loss_usd: Decimal | None = None  # absolute (canary: 10)
    max_drawdown_pct: Decimal = Decimal("10")  # from peak equity
    # --- exposure
    max_leverage: Decimal = Decimal("1")
    reduce_only_mode: bool = False
    #: per-symbol caps (SymbolLimit): a name under config/risk/ or a path. Spot caps load by default
    #: (fail closed); only an explicit `none` runs without them.
    limits_file: str | None = SPOT_LIMITS_FILE
    #: caps for perp symbols, loaded once the venue confirms derivatives access; `none` disables.
    perps_limits_file: str | None = PERPS_LIMITS_FILE
    symbol_limits: dict[str, SymbolLimit] = {}  # inline overrides, win over limits_file
    default_max_notional: Decimal | None = None  # for symbols with no per-symbol cap
    max_total_notional: Decimal | None = None
    # --- pre-trade
    max_impact_bps: Decimal = Decimal("50")
    max_open_orders_per_symbol: PositiveInt = 4
    max_orders_per_minute: PositiveInt = 30
    # --- runtime guards
    stale_mark_s: PositiveFloat = 30.0
    error_rate_threshold: Fraction = 0.5
    error_rate_window_s: PositiveFloat = 60.0
    error_rate_min_calls: PositiveInt = 10
    max_consecutive_api_errors: PositiveInt = 5
    volatility_short_window: PositiveInt = 10
    volatility_long_window: PositiveInt = 120
    volatility_multiple: PositiveFloat = 4.0
    volatility_min_samples: PositiveInt = 30  # returns seen before the volatility ratio is trusted
    max_move_pct: Decimal = Decimal("10")  # |price move| over the short window that trips at once
    volatility_cooldown_s: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    max_spread_bps: Decimal = Decimal("50")
    min_depth_usd: Decimal = Decimal("0")
    liquidity_depth_levels: PositiveInt = 10  # book levels per side counted as depth
    require_book_for_entries: bool = True  # no L2 book -> no impact estimate -> no entry
    max_consecutive_losses: PositiveInt = 4
    loss_cooldown_s: PositiveFloat = 3600.0
    correlation_threshold: Fraction = 0.8
    correlation_window: PositiveInt = 60
    correlation_min_samples: PositiveInt = 20
    correlation_refuse_threshold: Fraction = 0.95  # at or above: the entry is refused
    correlation_scale: Decimal = Decimal("0.5")  # between threshold and refuse: entry size multiplied by this
    liquidation_buffer_pct: Decimal = Decimal("15")
    circuit_breakers_enabled: bool = True
    #: guard name -> action on a critical trip (warn | block_entries | reduce_only | flatten | halt)
    actions: dict[str, GuardAction] = {}

    def __post_init__(self) -> None:
        _check_range("max_daily_loss_pct", self.max_daily_loss_pct, Decimal(0), Decimal(100))
        _check_range("max_daily_loss_usd", self.max_daily_loss_usd, Decimal(0))
        _check_range("max_drawdown_pct", self.max_drawdown_pct, Decimal(0), Decimal(100))
        _check_range("max_leverage", self.max_leverage, Decimal(1), Decimal(100))
        _check_range("default_max_notional", self.default_max_notional, Decimal(0))
        _check_range("max_total_notional", self.max_total_notional, Decimal(0))
        _check_range("max_impact_bps", self.max_impact_bps, Decimal(0), Decimal(10000))
        _check_range("max_spread_bps", self.max_spread_bps, Decimal(0), Decimal(10000))
        _check_range("min_depth_usd", self.min_depth_usd, Decimal(0))
        _check_range("liquidation_buffer_pct", self.liquidation_buffer_pct, Decimal(0), Decimal(100))
        _check_range("max_move_pct", self.max_move_pct, Decimal(0), Decimal(100))
        _check_range("correlation_scale", self.correlation_scale, Decimal(0), Decimal(1))
        if self.correlation_refuse_threshold < self.correlation_threshold:
            raise ValueError(
                "correlation_refuse_threshold must be >= correlation_threshold, got "
                f"{self.correlation_refuse_threshold} < {self.correlation_threshold}"
            )
        unknown = sorted(set(self.actions) - set(GUARD_NAMES))
        if unknown:
            raise ValueError(f"actions has unknown guard(s) {unknown}; allowed: {', '.join(GUARD_NAMES)}")
        if self.volatility_short_window >= self.volatility_long_window:
            raise ValueError(
                "volatility_short_window must be < volatility_long_window, got "
                f"{self.volatility_short_window} >= {self.volatility_long_window}"
            )

    @property
    def spot_caps_file(self) -> str | None:
        """The spot caps file in force, or None when the profile said `limits_file: none`."""
        return _active(self.limits_file)

    @property
    def perps_caps_file(self) -> str | None:
        """The perps caps file used once derivatives are detected, or None (`perps_limits_file: none`)."""
        return _active(self.perps_limits_file)

    def action_for(self, guard: str) -> GuardAction:
        """The configured action for `guard`, else its default."""
        action = self.actions.get(guard)
        return action if action is not None else DEFAULT_ACTIONS[guard]


def _active(name: str | None) -> str | None:
    if name is None or name.strip().lower() in (NO_LIMITS_FILE, ""):
        return None
    return name
