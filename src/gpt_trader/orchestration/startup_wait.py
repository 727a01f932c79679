"""Start-up waits out a venue burst: wires core/startup_wait.py into the bot's logs, metrics and health.

Why here: the adapter knows how to wait (Retry-After, jittered backoff, the budget), the bot knows
who must hear of it. During `PerpsBot.start` every wait is logged, counted (`startup.waits`,
`startup.wait_seconds`, gauge `startup.waiting`) and shown on the health file and `/health` as
`status: starting` with a `waiting` block, neither healthy nor crashed. After start-up the wait is
removed so later calls fail fast into the bot's own guards again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import structlog

from gpt_trader.features.brokerages.core.interfaces import Broker
from gpt_trader.features.brokerages.core.startup_wait import StartupWait, StartupWaiting, WaitEvent
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.monitoring import MonitorPublisher

log = structlog.get_logger("startup_wait")

SETTING = "coinbase.startup_wait_s (env COINBASE_STARTUP_WAIT_S)"


class StartupWaitReporter:
    """Turns each start-up wait into a log line, counters and a `starting` health document."""

    def __init__(self, metrics: MetricsRegistry, monitoring: MonitorPublisher) -> None:
        self.metrics = metrics
        self.monitoring = monitoring

    def __call__(self, event: WaitEvent) -> None:
        self.metrics.inc("startup.waits")
        self.metrics.inc("startup.wait_seconds", event.delay_s)
        self.metrics.set_gauge("startup.waiting", 1.0)
        log.warning(
            "start-up waiting for the venue",
            call=event.what,
            reason=event.reason,
            wait_s=round(event.delay_s, 3),
            retry_after_s=event.retry_after_s,
            attempt=event.attempt,
            waited_s=round(event.waited_s, 3),
            budget_s=event.budget_s,
        )
        self.monitoring.starting(
            f"waiting for the venue: {event.what} -> {event.reason}",
            {
                "call": event.what,
                "reason": event.reason,
                "attempt": event.attempt,
                "wait_s": round(event.delay_s, 3),
                "waited_s": round(event.waited_s, 3),
                "budget_s": event.budget_s,
            },
        )


@contextlib.contextmanager
def startup_wait(
    broker: Broker, budget_s: float, metrics: MetricsRegistry, monitoring: MonitorPublisher
) -> Iterator[StartupWait | None]:
    """While the block runs, the venue's start-up calls wait a 429/5xx/timeout burst out (when the venue
    can); afterwards they fail fast again. Yields the wait (None on a venue that cannot wait)."""
    if not isinstance(broker, StartupWaiting) or budget_s <= 0:
        yield None
        return
    metrics.inc("startup.waits", 0.0)  # exported from the start, so increase() sees the first wait
    metrics.inc("startup.wait_seconds", 0.0)
    wait = StartupWait(budget_s, setting=SETTING, on_wait=StartupWaitReporter(metrics, monitoring))
    broker.set_startup_wait(wait)
    try:
        yield wait
    finally:
        broker.set_startup_wait(None)
        metrics.set_gauge("startup.waiting", 0.0)
        if wait.waits:
            log.info("start-up wait over", waits=wait.waits, waited_s=round(wait.waited_s, 3))
