"""Whether this key has INTX (perpetuals) access, told apart from "the venue could not say right now".

A definite answer (403 / 404 / 401, a key that cannot trade or has no portfolio) is final for the
session: no retries. A transient failure (5xx, timeout, 429, malformed reply, after the REST client's
own retries) is probed again with doubling backoff up to `intx_detect_attempts` times at start-up;
if it still fails the answer stays UNKNOWN and `recheck()` probes again once `next_check` has passed,
the delay doubling from `intx_recheck_s` up to 8x.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from gpt_trader.features.brokerages.core.interfaces import BrokerageError, RateLimitError, TransientError

if TYPE_CHECKING:
    from gpt_trader.features.brokerages.coinbase.config import CoinbaseSettings
    from gpt_trader.features.brokerages.coinbase.rest import CoinbaseRestClient

log = logging.getLogger(__name__)

YES, NO, UNKNOWN = "yes", "no", "unknown"
RECHECK_CAP = 8


class IntxAccess:
    def __init__(
        self,
        rest: CoinbaseRestClient,
        settings: CoinbaseSettings,
        counters: Counter[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rest = rest
        self.settings = settings
        self.counters = counters
        self._clock = clock
        self._sleep = sleep
        self.outcome = UNKNOWN
        self.reason = ""
        self.portfolio_uuid: str | None = None
        self.next_check = 0.0
        self._delay = settings.intx_recheck_s
        self._lock = asyncio.Lock()

    async def probe(self) -> tuple[str, str]:
        """One look: (YES|NO|UNKNOWN, reason)."""
        self.counters["perps.intx_probes"] += 1
        try:
            perms = await self.rest.key_permissions()
        except (TransientError, RateLimitError) as exc:
            return UNKNOWN, exc.reason
        except BrokerageError as exc:
            return NO, exc.reason
        self.portfolio_uuid = perms.portfolio_uuid or None
        if not perms.can_trade or not self.portfolio_uuid:
            return NO, "KEY_CANNOT_TRADE_OR_NO_PORTFOLIO"
        try:
            await self.rest.intx_portfolio(self.portfolio_uuid)
        except (TransientError, RateLimitError) as exc:
            return UNKNOWN, exc.reason
        except BrokerageError as exc:
            return NO, exc.reason
        return YES, ""

    async def detect(self) -> str:
        """Start-up detection: retry only transient failures, a bounded number of times."""
        attempts = self.settings.intx_detect_attempts
        for attempt in range(attempts):
            if attempt:
                self.counters["perps.intx_detect_retries"] += 1
                await self._sleep(self.settings.intx_detect_backoff_s * 2 ** (attempt - 1))
            self.outcome, self.reason = await self.probe()
            if self.outcome != UNKNOWN:
                break
        if self.outcome == UNKNOWN:
            self._schedule(first=True)
            self.counters["perps.intx_unverified"] += 1
            log.warning(
                "COINBASE_ENABLE_DERIVATIVES=1 but INTX access could not be verified (%s after %d attempts); "
                "perps stay off and perp orders are refused until a re-check in %.1fs succeeds",
                self.reason,
                attempts,
                self._delay,
            )
        return self.outcome

    def _schedule(self, *, first: bool = False) -> None:
        if not first:
            self._delay = min(self._delay * 2, self.settings.intx_recheck_s * RECHECK_CAP)
        self.next_check = self._clock() + self._delay

    def defer(self, reason: str) -> None:
        """Access looked fine but enabling perps failed: treat as still unverified, re-check later."""
        self.outcome, self.reason = UNKNOWN, reason
        self._schedule()

    def due(self) -> bool:
        return self.outcome == UNKNOWN and self._clock() >= self.next_check

    async def recheck(self, *, force: bool = False) -> str:
        """While UNKNOWN: probe again when due (or forced). A definite answer is never re-probed."""
        if self.outcome != UNKNOWN or not (force or self.due()):
            return self.outcome
        async with self._lock:
            if self.outcome != UNKNOWN:
                return self.outcome
            self.counters["perps.intx_rechecks"] += 1
            outcome, reason = await self.probe()
            self.reason = reason
            if outcome == UNKNOWN:
                self._schedule()
                log.warning("INTX access still unverified (%s); next re-check in %.1fs", reason, self._delay)
            self.outcome = outcome
            return outcome
