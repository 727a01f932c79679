"""Whether the simulated account has INTX (perpetuals) access, and how the venue answers when it has not.

The adapter enables perps only when COINBASE_ENABLE_DERIVATIVES=1 AND it detects access; this gate lets
tests run the "enabled in config, no access at the venue" path over the real protocol.

Choices where Coinbase is silent ([?] in COINBASE.md §1.4-1.5), configurable:
- `key_permissions` is unchanged (`portfolio_type` "DEFAULT", can_trade true): a spot-only key looks
  the same as the one-portfolio simulated account with access.
- `/intx/portfolio|positions|balances/{uuid}` answer 403 `{"error":"PERMISSION_DENIED",
  "error_details":"Missing required scopes"}` (denial "scopes", the shape the SDK special-cases) or
  404 NOT_FOUND "portfolio ... not found" (denial "not_found").
- Perp creates / previews / close_position are refused with `INELIGIBLE_PAIR` (HTTP 200,
  `success:false`), which clients read as a permission problem, not a malformed order.
- Perp products stay listed: the catalogue is public, trading them is what needs access.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpt_trader.exchange_sim.wire import OrderReject
from gpt_trader.features.brokerages.core.interfaces import AuthError, NotFoundError, Product

INTX_DENIALS = ("scopes", "not_found")
NO_INTX_ORDER_REASON = "INELIGIBLE_PAIR"
MISSING_SCOPES = "Missing required scopes"


def check_denial(denial: str) -> str:
    if denial not in INTX_DENIALS:
        raise ValueError(f"intx_denial={denial!r} is not allowed; allowed: {', '.join(INTX_DENIALS)}")
    return denial


@dataclass
class IntxGate:
    access: bool = True
    denial: str = "scopes"

    def __post_init__(self) -> None:
        check_denial(self.denial)

    def configure(self, access: bool, denial: str | None = None) -> None:
        if denial is not None:
            self.denial = check_denial(denial)
        self.access = bool(access)

    def check_portfolio(self, portfolio_uuid: str) -> None:
        """Raise as the venue would for an INTX endpoint on an account without derivatives."""
        if self.access:
            return
        if self.denial == "not_found":
            raise NotFoundError(f"portfolio {portfolio_uuid} not found", reason="NOT_FOUND")
        raise AuthError(MISSING_SCOPES, reason="PERMISSION_DENIED")

    def check_order(self, product: Product) -> None:
        if product.is_perpetual and not self.access:
            raise OrderReject(
                NO_INTX_ORDER_REASON, f"{product.symbol} needs INTX (perpetuals) access, which this account lacks"
            )

    def snapshot(self) -> dict[str, Any]:
        return {"access": self.access, "denial": self.denial}
