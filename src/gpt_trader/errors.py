"""One error root: every failure the bot reports to its operator is a `GptTraderError`.

Why: the command line maps errors to exit codes in one place (`cli.exit_codes`), so each subclass
carries its own `exit_code` and the wording the operator sees (`describe()`), instead of every command
catching its own list of types. Exit codes (README): 1 venue error at start, 2 bad configuration,
3 stopped by a risk halt, 4 start-up reconciliation refused to trade. Messages never hold secrets.

Subclasses living with their slice: `BrokerageError` (venue, 1), `RiskGuardError` (3),
`ReconciliationRefusedError` (4, orchestration.reconciliation).
"""

from __future__ import annotations

from typing import ClassVar

EXIT_VENUE = 1
EXIT_CONFIG = 2
EXIT_RISK_HALT = 3
EXIT_RECONCILIATION_REFUSED = 4


class GptTraderError(Exception):
    """Root of the project's errors; `exit_code` is what the CLI exits with when one ends a command."""

    exit_code: ClassVar[int] = EXIT_VENUE
    #: how the CLI introduces the message on stderr
    label: ClassVar[str] = "error"

    def describe(self) -> str:
        """One operator-facing line (or block): the label, then the message."""
        return f"{self.label}: {self}"


class ConfigError(GptTraderError):
    """Invalid configuration. `str()` is the user-facing message (no secret values)."""

    exit_code = EXIT_CONFIG
    label = "configuration error"


class VenueError(GptTraderError):
    """Root of venue (exchange) errors; ending a command, it means the venue failed at start-up."""

    exit_code = EXIT_VENUE
    label = "cannot run: venue error"

    def describe(self) -> str:
        return f"{self.label} {type(self).__name__}: {self}"


class RiskHaltError(GptTraderError):
    """The session stopped because the trading state became HALTED (a guard or reconciliation)."""

    exit_code = EXIT_RISK_HALT
    label = "stopped by a risk halt"


__all__ = [
    "EXIT_CONFIG",
    "EXIT_RECONCILIATION_REFUSED",
    "EXIT_RISK_HALT",
    "EXIT_VENUE",
    "ConfigError",
    "GptTraderError",
    "RiskHaltError",
    "VenueError",
]
