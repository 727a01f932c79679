"""Alerts to Slack (incoming webhook) and PagerDuty (Events API v2), off the trading loop.

`Alerter.trigger` / `resolve` only decide and enqueue (never block, never raise): a condition already
alerted is not sent again (de-duplication by key), triggers over `max_per_minute` are dropped, a full
queue drops the alert; every drop is counted (`alerts.dropped{reason}`). A daemon thread sends, retrying
with exponential backoff. Routing: a `page` alert goes to PagerDuty (trigger, then resolve with the same
stable `dedup_key`) and to Slack as the written record; a `notify` alert goes to Slack only. The webhook
URL and the routing key never reach a log line, an error or a metric.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import structlog

from gpt_trader.features.monitor.config import AlertsConfig, AlertSecrets
from gpt_trader.features.monitor.metrics import MetricsRegistry

if TYPE_CHECKING:
    import httpx

log = structlog.get_logger("monitor.alerts")

Severity = Literal["page", "notify"]
Sink = Literal["slack", "pagerduty"]
_STOP = object()


class AlertDeliveryError(Exception):
    """A sink answered with a status that may succeed on retry (5xx, 429) or could not be reached."""


class AlertRejectedError(Exception):
    """A sink refused the message (4xx other than 429): a bad payload or key, so it is not retried."""


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One message for one sink (what the worker thread sends)."""

    sink: Sink
    action: Literal["trigger", "resolve"]
    key: str
    dedup_key: str
    severity: Severity
    summary: str
    details: dict[str, str] = {}


class ActiveAlert(msgspec.Struct, frozen=True, kw_only=True):
    """An alert that was triggered and not yet resolved (persisted across restarts by the caller)."""

    severity: Severity
    summary: str
    sinks: list[Sink]


class Alerter:
    """Decides what to send and hands it to a background sender. Safe to call from the trading loop."""

    def __init__(
        self,
        config: AlertsConfig,
        secrets: AlertSecrets,
        metrics: MetricsRegistry,
        *,
        source: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._secrets = secrets
        self._metrics = metrics
        self.source = source
        self._clock = clock
        self._sinks: set[Sink] = set()
        if config.enabled and secrets.slack_webhook_url:
            self._sinks.add("slack")
        if config.enabled and secrets.pagerduty_routing_key:
            self._sinks.add("pagerduty")
        self._active: dict[str, ActiveAlert] = {}
        self._sent_at: deque[float] = deque()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=config.queue_size)
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self._idle = threading.Event()
        self._idle.set()

    # ------------------------------------------------------------------------------ decisions
    @property
    def sinks(self) -> frozenset[str]:
        return frozenset(self._sinks)

    def dedup_key(self, key: str) -> str:
        """Stable per bot, profile and condition: a restart resolves what the previous process raised."""
        return f"gpt-trader/{self.source}/{key}"

    def active(self) -> dict[str, ActiveAlert]:
        return dict(self._active)

    def restore(self, active: Mapping[str, ActiveAlert]) -> None:
        """Alerts a previous process left open: not re-sent; resolved when their condition is gone."""
        self._active.update(active)

    def _route(self, severity: Severity) -> list[Sink]:
        wanted: list[Sink] = ["pagerduty", "slack"] if severity == "page" else ["slack"]
        return [s for s in wanted if s in self._sinks]

    def trigger(self, key: str, severity: Severity, summary: str, details: Mapping[str, str] | None = None) -> bool:
        """Raise alert `key` unless it is already active. Returns True when it was queued."""
        if key in self._active:
            self._metrics.inc("alerts.deduplicated")
            return False
        sinks = self._route(severity)
        if not sinks:
            self._active[key] = ActiveAlert(severity=severity, summary=summary, sinks=[])
            log.warning("alert (no sink configured)", key=key, severity=severity, summary=summary)
            return False
        now = self._clock()
        while self._sent_at and now - self._sent_at[0] > 60.0:
            self._sent_at.popleft()
        if len(self._sent_at) >= self.config.max_per_minute:
            self._metrics.inc("alerts.dropped", labels={"reason": "rate_limited"})
            log.warning("alert dropped: rate limit", key=key, max_per_minute=self.config.max_per_minute)
            return False
        self._sent_at.append(now)
        queued = self._enqueue_all(sinks, "trigger", key, severity, summary, details)
        self._active[key] = ActiveAlert(severity=severity, summary=summary, sinks=queued)
        log.warning("alert raised", key=key, severity=severity, summary=summary, sinks=queued)
        return bool(queued)

    def announce(self, key: str, severity: Severity, summary: str, details: Mapping[str, str] | None = None) -> bool:
        """A one-off message (an operator action): sent like a trigger, never held active or resolved."""
        self._active.pop(key, None)
        queued = self.trigger(key, severity, summary, details)
        self._active.pop(key, None)
        return queued

    def resolve(self, key: str, summary: str = "") -> bool:
        """The condition behind `key` is gone: resolve it where it was raised. Returns True if queued."""
        alert = self._active.pop(key, None)
        if alert is None:
            return False
        text = summary or f"resolved: {alert.summary}"
        queued = self._enqueue_all(alert.sinks, "resolve", key, alert.severity, text, None)
        log.info("alert resolved", key=key, sinks=queued)
        return bool(queued)

    def _enqueue_all(
        self,
        sinks: list[Sink],
        action: Literal["trigger", "resolve"],
        key: str,
        severity: Severity,
        summary: str,
        details: Mapping[str, str] | None,
    ) -> list[Sink]:
        """Queue one delivery per sink; returns the sinks whose delivery found room in the queue."""
        dedup_key = self.dedup_key(key)
        extra = dict(details or {})
        return [
            sink
            for sink in sinks
            if self._enqueue(
                Delivery(
                    sink=sink,
                    action=action,
                    key=key,
                    dedup_key=dedup_key,
                    severity=severity,
                    summary=summary,
                    details=extra,
                )
            )
        ]

    def _enqueue(self, delivery: Delivery) -> bool:
        self._ensure_worker()
        try:
            self._idle.clear()
            self._queue.put_nowait(delivery)
        except queue.Full:
            self._metrics.inc("alerts.dropped", labels={"reason": "queue_full"})
            log.error("alert dropped: queue full", key=delivery.key, sink=delivery.sink)
            return False
        return True

    # ------------------------------------------------------------------------------ sending
    def _ensure_worker(self) -> None:
        if self._thread is None:
            import httpx  # only a bot with a sink configured pays for the HTTP client

            self._client = httpx.Client(timeout=self.config.timeout_s)
            self._thread = threading.Thread(target=self._work, name="alert-sender", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                self._deliver(item)
            except Exception as exc:  # the sender thread must survive anything a sink does
                self._metrics.inc("alerts.failed", labels={"sink": getattr(item, "sink", "?")})
                log.error("alert not delivered", sink=getattr(item, "sink", "?"), error=type(exc).__name__)
            finally:
                self._queue.task_done()
                if self._queue.unfinished_tasks == 0:
                    self._idle.set()

    def _deliver(self, delivery: Delivery) -> None:
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        url, body = self._request(delivery)
        retrying = Retrying(
            stop=stop_after_attempt(self.config.retry_attempts),
            wait=wait_exponential(multiplier=self.config.backoff_base_s, max=self.config.backoff_max_s),
            retry=retry_if_exception_type(AlertDeliveryError),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                self._post(delivery.sink, url, body)
        self._metrics.inc("alerts.sent", labels={"sink": delivery.sink, "action": delivery.action})

    def _post(self, sink: Sink, url: str, body: dict[str, Any]) -> None:
        import httpx

        assert self._client is not None
        try:
            resp = self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            self._metrics.inc("alerts.retries", labels={"sink": sink})
            raise AlertDeliveryError(f"{sink}: {type(exc).__name__}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            self._metrics.inc("alerts.retries", labels={"sink": sink})
            raise AlertDeliveryError(f"{sink}: HTTP {resp.status_code}")
        if resp.status_code >= 300:  # 4xx: a bad payload or key; retrying will not help
            raise AlertRejectedError(f"{sink}: HTTP {resp.status_code} (not retried)")

    def _request(self, d: Delivery) -> tuple[str, dict[str, Any]]:
        if d.sink == "slack":
            assert self._secrets.slack_webhook_url
            icon = ":rotating_light:" if d.severity == "page" else ":warning:"
            if d.action == "resolve":
                icon = ":white_check_mark:"
            lines = [f"{icon} *{self.source}* {d.summary}"]
            lines += [f"• {k}: {v}" for k, v in sorted(d.details.items())]
            return self._secrets.slack_webhook_url, {"text": "\n".join(lines)}
        assert self._secrets.pagerduty_routing_key
        body: dict[str, Any] = {
            "routing_key": self._secrets.pagerduty_routing_key,
            "event_action": d.action,
            "dedup_key": d.dedup_key,
        }
        if d.action == "trigger":
            body["payload"] = {
                "summary": f"{self.source}: {d.summary}"[:1024],
                "source": self.source,
                "severity": "critical" if d.severity == "page" else "warning",
                "component": "gpt-trader",
                "custom_details": d.details,
            }
        return self._secrets.pagerduty_url, body

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued was sent or given up on. True if the queue drained in time."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (up to `timeout`), then stop the sender thread."""
        if self._thread is None:
            return
        self.flush(timeout)
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)
        self._thread.join(1.0)
        self._thread = None  # a later alert starts a new sender
        if self._client is not None:
            self._client.close()
            self._client = None
