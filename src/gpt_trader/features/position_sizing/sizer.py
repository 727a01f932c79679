"""PositionSizer: one method per SizingConfig.method, then the risk caps, then the product grid."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

import structlog

from gpt_trader.features.brokerages.core.interfaces import Product
from gpt_trader.features.brokerages.core.quantization import quantize_size
from gpt_trader.features.live_trade.risk.config import RiskConfig, SymbolLimit
from gpt_trader.features.live_trade.strategies.base import Action, Decision
from gpt_trader.features.position_sizing.kelly import kelly_estimate
from gpt_trader.orchestration.configuration import SizingConfig

log = structlog.get_logger("sizing")

ZERO = Decimal(0)
ONE = Decimal(1)
SECONDS_PER_YEAR = 365.25 * 24 * 3600


class PositionSizer:
    """Sizes entries (BUY/SELL decisions). HOLD and CLOSE size to 0: closing uses the position itself.

    `volatility` passed to `size` is annualized (0.6 = 60 %/yr) unless `volatility_bar_seconds` is given,
    in which case it is the per-bar standard deviation of returns and is annualized here.
    """

    def __init__(
        self,
        config: SizingConfig,
        *,
        risk: RiskConfig | None = None,
        symbol_limits: Mapping[str, SymbolLimit] | None = None,
        volatility_bar_seconds: float | None = None,
    ) -> None:
        self.config = config
        self.risk = risk
        self.symbol_limits: Mapping[str, SymbolLimit] = symbol_limits or {}
        self._vol_scale = math.sqrt(SECONDS_PER_YEAR / volatility_bar_seconds) if volatility_bar_seconds else 1.0
        self._warned: set[str] = set()
        if config.method == "fixed_notional" and config.notional is None:
            raise ValueError("sizing.notional is required for method fixed_notional (USD per order)")
        if config.method == "fraction_of_equity" and config.fraction is None:
            raise ValueError("sizing.fraction is required for method fraction_of_equity (0..1)")
        if config.method == "volatility_target" and config.target_volatility is None:
            raise ValueError("sizing.target_volatility is required for method volatility_target (annualized)")

    def validate_symbols(self, symbols: Sequence[str]) -> None:
        """Start-up check: fixed_size needs a size for every traded symbol (or a default_size)."""
        if self.config.method != "fixed_size" or self.config.default_size is not None:
            return
        missing = [s for s in symbols if s not in self.config.sizes]
        if missing:
            raise ValueError(
                f"sizing.sizes has no entry for {missing} and sizing.default_size is unset (method fixed_size)"
            )

    # ------------------------------------------------------------------------------------------
    def size(
        self,
        *,
        symbol: str,
        decision: Decision,
        product: Product,
        price: Decimal,
        equity: Decimal,
        volatility: float | None,
        trade_history: Sequence[Decimal],
    ) -> Decimal:
        if decision.action not in (Action.BUY, Action.SELL) or price <= 0 or equity <= 0:
            return ZERO
        method = self.config.method
        raw: Decimal | None
        if method == "fixed_size":
            raw = self._fixed(symbol, price, equity)
        elif method == "fixed_notional":
            raw = self._notional_size(price)
        elif method == "fraction_of_equity":
            raw = self._fraction_size(equity, price)
        elif method == "volatility_target":
            raw = self._vol_target(symbol, price, equity, volatility)
        else:
            raw = self._kelly(symbol, decision, price, equity, trade_history)
        if raw is None or raw <= 0:
            return ZERO
        return self._cap_and_round(symbol, raw, product, price, equity)

    def _fixed(self, symbol: str, price: Decimal, equity: Decimal) -> Decimal | None:
        size = self.config.sizes.get(symbol, self.config.default_size)
        if size is not None:
            return size
        if self.config.notional is not None:
            return self._notional_size(price)
        if self.config.fraction is not None:
            return self._fraction_size(equity, price)
        if symbol not in self._warned:
            self._warned.add(symbol)
            log.warning("no fixed size configured; not trading this symbol", symbol=symbol)
        return None

    def _notional_size(self, price: Decimal) -> Decimal | None:
        notional = self.config.notional
        return None if notional is None else notional / price

    def _fraction_size(self, equity: Decimal, price: Decimal) -> Decimal | None:
        fraction = self.config.fraction
        return None if fraction is None else equity * fraction / price

    def _vol_target(self, symbol: str, price: Decimal, equity: Decimal, volatility: float | None) -> Decimal | None:
        target = self.config.target_volatility
        if volatility is None or not math.isfinite(volatility) or volatility <= 0 or target is None:
            return self._fixed(symbol, price, equity)  # no volatility estimate yet: fixed sizing
        annual = volatility * self._vol_scale
        notional = equity * target / Decimal(repr(annual))
        return notional / price

    def _kelly(
        self, symbol: str, decision: Decision, price: Decimal, equity: Decimal, history: Sequence[Decimal]
    ) -> Decimal | None:
        if len(history) < self.config.kelly_min_trades:
            return self._fixed(symbol, price, equity)
        est = kelly_estimate(history)
        confidence = Decimal(repr(min(max(decision.confidence, 0.0), 1.0)))
        fraction = est.fraction * self.config.kelly_fraction * confidence
        return equity * fraction / price

    def _cap_and_round(self, symbol: str, size: Decimal, product: Product, price: Decimal, equity: Decimal) -> Decimal:
        lim = self.symbol_limits.get(symbol)
        cap_notional: Decimal | None = None
        if lim is not None and lim.max_notional is not None:
            cap_notional = lim.max_notional
        elif self.risk is not None:
            cap_notional = self.risk.default_max_notional
        if self.risk is not None:
            lev = self.risk.max_leverage
            if lim is not None and lim.max_leverage < lev:
                lev = lim.max_leverage
            plev = product.max_leverage if product.is_perpetual else ONE
            lev = min(lev, plev)
            by_lev = equity * lev
            cap_notional = by_lev if cap_notional is None else min(cap_notional, by_lev)
        if cap_notional is not None and size * price > cap_notional:
            size = cap_notional / price
        if lim is not None and lim.max_position_size is not None and size > lim.max_position_size:
            size = lim.max_position_size
        if size > product.base_max_size:
            size = product.base_max_size
        size = quantize_size(size, product)
        if size < product.base_min_size or size * price < product.quote_min_size:
            return ZERO
        return size
