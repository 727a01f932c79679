"""The monitor slice's own configuration: the profile's `monitoring:` and `alerts:` sections, and the
alert secrets (read from the environment by ConfigManager, never from a profile)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
Route = Literal["page", "notify", "off"]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]

#: alert kinds the bot raises, and where each goes by default (page: PagerDuty and Slack; notify: Slack)
DEFAULT_ROUTES: dict[str, Route] = {
    "halt": "page",
    "refused_start": "page",
    "liquidation_buffer": "page",
    "reduce_only": "notify",
    "stale_stream": "notify",
    "error_burst": "notify",
    "metrics_endpoint": "notify",
    "operator_action": "notify",
}


class MonitoringConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where `/metrics` and `/health` listen. metrics_port None = off; 0 = a free port (logged)."""

    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    #: `/health` answers 503 when the last published cycle is older than this
    health_stale_after_s: PositiveFloat = 120.0

    def __post_init__(self) -> None:
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port must be 0-65535 (0 = any free port) or null (off), got {self.metrics_port}")
        if not self.metrics_host.strip():
            raise ValueError("metrics_host must be an address to bind, e.g. 127.0.0.1")


class AlertsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which alerts go where, and how hard the sender tries. Secrets come from the environment."""

    enabled: bool = False
    routes: dict[str, Route] = {}
    #: at most this many triggers a minute leave the process; the rest are dropped and counted
    max_per_minute: PositiveInt = 10
    queue_size: PositiveInt = 100
    retry_attempts: PositiveInt = 5
    backoff_base_s: PositiveFloat = 0.5
    backoff_max_s: PositiveFloat = 30.0
    timeout_s: PositiveFloat = 5.0
    #: failed venue calls within a minute that raise an `error_burst` alert
    error_burst_per_min: PositiveInt = 10
    #: market data must stay stale this long before `stale_stream` is raised (a blip is not news)
    stale_grace_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.routes) - set(DEFAULT_ROUTES))
        if unknown:
            raise ValueError(f"routes has unknown alert kinds {unknown}; allowed: {', '.join(DEFAULT_ROUTES)}")

    def route(self, kind: str) -> Route:
        return self.routes.get(kind, DEFAULT_ROUTES.get(kind, "notify"))


class AlertSecrets(msgspec.Struct, frozen=True, kw_only=True):
    """Slack webhook URL and PagerDuty routing key (environment only). repr never shows values."""

    slack_webhook_url: str | None = None
    pagerduty_routing_key: str | None = None
    pagerduty_url: str = PAGERDUTY_EVENTS_URL

    def __repr__(self) -> str:
        present = [f for f in ("slack_webhook_url", "pagerduty_routing_key") if getattr(self, f)]
        return f"AlertSecrets(present={present})"

    __str__ = __repr__
