"""Perps gate and symbol normalisation: the bot's names <-> the venue's product ids.

Perps trade only with COINBASE_ENABLE_DERIVATIVES=1 AND detected INTX access. Otherwise a perp symbol
(BTC-PERP, BTC-PERP-INTX) trades its spot product (BTC-USD) and a notice is logged once. Outputs carry
the caller's name back, so the bot's per-symbol state stays keyed the way it was configured.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

log = logging.getLogger(__name__)

PERP_MARKERS = ("-PERP-INTX", "-PERP")
#: why perps trade as spot, by `CoinbaseBroker.perps_gate`
GATE_REASONS = {
    "disabled_by_config": "derivatives are off (set COINBASE_ENABLE_DERIVATIVES=1; INTX access is needed too)",
    "no_intx_access": "COINBASE_ENABLE_DERIVATIVES=1 but this key has no detected INTX (perpetuals) access",
    "public_only": "no credentials, so INTX access cannot be checked",
    "intx_unverified": (
        "COINBASE_ENABLE_DERIVATIVES=1 but INTX access is not verified yet (the venue kept failing); "
        "perp orders are refused until a re-check succeeds, perp market data comes from spot"
    ),
}
DEFAULT_GATE_REASON = "derivatives are not enabled (COINBASE_ENABLE_DERIVATIVES=1 and INTX access are both needed)"


def is_perp_symbol(symbol: str) -> bool:
    s = symbol.upper()
    return any(s.endswith(mark) for mark in PERP_MARKERS) or "-PERP-" in s


def perp_base(symbol: str) -> str:
    return symbol.upper().split("-", 1)[0]


class SymbolMap:
    """Decides the venue product for a requested symbol and remembers the alias for replies."""

    def __init__(
        self,
        venue_products: Iterable[str],
        *,
        perps_enabled: bool,
        spot_quote: str = "USD",
        reason: str = DEFAULT_GATE_REASON,
        counters: Counter[str] | None = None,
    ) -> None:
        self.venue_products = set(venue_products)
        self.perps_enabled = perps_enabled
        self.spot_quote = spot_quote
        self.reason = reason
        self.counters = counters if counters is not None else Counter()
        self._to_caller: dict[str, str] = {}
        self._noticed: set[str] = set()
        self.notices: list[str] = []

    def _notice(self, symbol: str, text: str) -> None:
        if symbol not in self._noticed:
            self._noticed.add(symbol)
            self.notices.append(text)
            self.counters["perps.normalized_to_spot"] += 1
            log.warning(text)

    def to_venue(self, symbol: str) -> str:
        s = symbol.strip().upper()
        if s in self.venue_products and (self.perps_enabled or not is_perp_symbol(s)):
            return s
        if is_perp_symbol(s):
            base = perp_base(s)
            if self.perps_enabled:
                for candidate in (f"{base}-PERP-INTX", f"{base}-PERP"):
                    if candidate in self.venue_products:
                        self._to_caller.setdefault(candidate, symbol)
                        return candidate
                return s
            spot = f"{base}-{self.spot_quote}"
            self._notice(symbol, f"{self.reason}: {symbol} trades as spot {spot}")
            self._to_caller.setdefault(spot, symbol)
            return spot
        return s

    def to_caller(self, venue_symbol: str) -> str:
        return self._to_caller.get(venue_symbol, venue_symbol)


def derivatives_allowed(enabled_by_config: bool, intx_access: bool) -> bool:
    return enabled_by_config and intx_access
