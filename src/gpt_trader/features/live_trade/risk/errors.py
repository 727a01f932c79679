"""Structured guard failures: one `RiskGuard<Name>Error` per guard (DESIGN §4).

Guards raise these when they trip; the RiskManager catches them, applies the configured action and
turns them into `GuardEvent`s. Callers that prefer exceptions get `PreTradeRejectedError` from
`PreTradeResult.raise_if_rejected()`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from gpt_trader.errors import EXIT_RISK_HALT, GptTraderError

Severity = Literal["recoverable", "critical"]


class RiskGuardError(GptTraderError):
    """A tripped guard: `guard` name, optional `symbol`, and the numbers that tripped it."""

    exit_code = EXIT_RISK_HALT
    label = "risk guard"
    guard: ClassVar[str] = ""

    def __init__(self, message: str, *, symbol: str | None = None, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.symbol = symbol
        self.details: dict[str, str] = details or {}


class RiskGuardDailyLossError(RiskGuardError):
    guard = "daily_loss"


class RiskGuardDrawdownError(RiskGuardError):
    guard = "drawdown"


class RiskGuardErrorRateError(RiskGuardError):
    guard = "error_rate"


class RiskGuardApiErrorsError(RiskGuardError):
    guard = "api_errors"


class RiskGuardStaleMarkError(RiskGuardError):
    guard = "stale_mark"


class RiskGuardLiquidationBufferError(RiskGuardError):
    guard = "liquidation_buffer"


class RiskGuardVolatilityError(RiskGuardError):
    guard = "volatility"


class RiskGuardLiquidityError(RiskGuardError):
    guard = "liquidity"


class RiskGuardConsecutiveLossesError(RiskGuardError):
    guard = "consecutive_losses"


class RiskGuardCorrelationError(RiskGuardError):
    guard = "correlation"


class PreTradeRejectedError(RiskGuardError):
    """An order refused by a pre-trade rule; `rule` names it."""

    guard = "pre_trade"

    def __init__(
        self, message: str, *, rule: str, symbol: str | None = None, details: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, symbol=symbol, details=details)
        self.rule = rule


GUARD_ERRORS: dict[str, type[RiskGuardError]] = {
    cls.guard: cls
    for cls in (
        RiskGuardDailyLossError,
        RiskGuardDrawdownError,
        RiskGuardErrorRateError,
        RiskGuardApiErrorsError,
        RiskGuardStaleMarkError,
        RiskGuardLiquidationBufferError,
        RiskGuardVolatilityError,
        RiskGuardLiquidityError,
        RiskGuardConsecutiveLossesError,
        RiskGuardCorrelationError,
    )
}
