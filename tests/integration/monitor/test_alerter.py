"""The Alerter against local Slack / PagerDuty receivers on 127.0.0.1: routing by severity, de-duplication,
rate limit, retry with backoff, a bounded queue whose drops are counted, resolve with the same dedup_key,
and a trading loop that never waits on a sink."""

from __future__ import annotations

import socket
import time

import pytest
from alert_receivers import AlertReceivers, wait_for

from gpt_trader.features.monitor.alerts import Alerter
from gpt_trader.features.monitor.config import AlertsConfig, AlertSecrets
from gpt_trader.features.monitor.metrics import MetricsRegistry

pytestmark = pytest.mark.integration


def _alerter(receivers: AlertReceivers, metrics: MetricsRegistry, **config: object) -> Alerter:
    env = receivers.env()
    secrets = AlertSecrets(
        slack_webhook_url=env["GPT_TRADER_SLACK_WEBHOOK_URL"],
        pagerduty_routing_key=env["GPT_TRADER_PAGERDUTY_ROUTING_KEY"],
        pagerduty_url=env["GPT_TRADER_PAGERDUTY_URL"],
    )
    settings = {"enabled": True, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 2.0, **config}
    return Alerter(AlertsConfig(**settings), secrets, metrics, source="bot/test")  # type: ignore[arg-type]


async def test_page_goes_to_pagerduty_and_slack_notify_to_slack_only(receivers: AlertReceivers) -> None:
    metrics = MetricsRegistry()
    alerter = _alerter(receivers, metrics)
    assert alerter.trigger("halt", "page", "trading HALTED: daily_loss", {"cycle": "7"})
    assert not alerter.trigger("halt", "page", "trading HALTED: daily_loss")  # de-duplicated
    assert alerter.trigger("stale_stream", "notify", "stale market data: BTC-USD")
    await wait_for(lambda: len(receivers.slack) == 2 and len(receivers.pagerduty) == 1, what="three deliveries")
    assert receivers.pagerduty[0]["dedup_key"] == "gpt-trader/bot/test/halt"
    assert receivers.pagerduty[0]["payload"]["custom_details"] == {"cycle": "7"}
    assert {"stale market data" in m["text"] for m in receivers.slack} == {True, False}
    assert metrics.counter("alerts.deduplicated") == 1

    assert alerter.resolve("halt")
    assert not alerter.resolve("halt")  # nothing active any more
    await wait_for(lambda: len(receivers.pagerduty) == 2, what="the resolve")
    assert receivers.pagerduty[1] == {
        "routing_key": "R0UTINGKEY-secret-123",
        "event_action": "resolve",
        "dedup_key": "gpt-trader/bot/test/halt",
    }
    alerter.close()
    assert metrics.counter("alerts.sent", {"sink": "pagerduty", "action": "resolve"}) == 1
    assert metrics.counter("alerts.sent", {"sink": "slack", "action": "trigger"}) == 2


async def test_retries_with_backoff_until_the_sink_answers(receivers: AlertReceivers) -> None:
    metrics = MetricsRegistry()
    alerter = _alerter(receivers, metrics, retry_attempts=5)
    receivers.fail_next = 2  # two 503s, then success
    alerter.trigger("reduce_only", "notify", "trading REDUCING")
    await wait_for(lambda: len(receivers.slack) == 1, what="the retried delivery")
    alerter.close()
    assert receivers.attempts == 3
    assert metrics.counter("alerts.retries", {"sink": "slack"}) == 2


async def test_gives_up_after_the_attempts_and_counts_it(receivers: AlertReceivers) -> None:
    metrics = MetricsRegistry()
    alerter = _alerter(receivers, metrics, retry_attempts=2)
    receivers.fail_next = 10
    alerter.trigger("reduce_only", "notify", "trading REDUCING")
    assert alerter.flush(5)
    alerter.close()
    assert receivers.slack == [] and receivers.attempts == 2
    assert metrics.counter("alerts.failed", {"sink": "slack"}) == 1


async def test_rate_limit_and_full_queue_drop_and_count_never_block(receivers: AlertReceivers) -> None:
    metrics = MetricsRegistry()
    alerter = _alerter(receivers, metrics, max_per_minute=3)
    for i in range(5):
        alerter.trigger(f"k{i}", "notify", f"alert {i}")
    assert metrics.counter("alerts.dropped", {"reason": "rate_limited"}) == 2
    alerter.close()
    assert len(receivers.slack) == 3

    # a sink that never answers: a local socket that takes connections (the kernel's backlog) but never
    # replies, so each send waits its full timeout; the caller still returns at once, the queue bounds the
    # backlog (2 queued + 1 in the worker's hands), every other alert is dropped and counted
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        slow = Alerter(
            AlertsConfig(enabled=True, queue_size=2, max_per_minute=100, retry_attempts=1, timeout_s=0.5),
            AlertSecrets(slack_webhook_url=f"http://127.0.0.1:{port}/never"),
            metrics,
            source="bot/test",
        )
        started = time.perf_counter()
        for i in range(50):
            slow.trigger(f"s{i}", "notify", "x")
        assert time.perf_counter() - started < 0.5
        assert metrics.counter("alerts.dropped", {"reason": "queue_full"}) >= 47
        slow.close(timeout=5)


def test_no_secrets_means_logged_only_and_repr_hides_values() -> None:
    metrics = MetricsRegistry()
    alerter = Alerter(AlertsConfig(enabled=True), AlertSecrets(), metrics, source="bot/test")
    assert alerter.sinks == frozenset()
    assert not alerter.trigger("halt", "page", "trading HALTED")
    assert "halt" in alerter.active()  # still tracked, so a later resolve is consistent
    secrets = AlertSecrets(slack_webhook_url="https://hooks.slack.com/services/T/B/SECRET", pagerduty_routing_key="RK")
    assert "SECRET" not in repr(secrets) and "RK" not in str(secrets)
    disabled = Alerter(AlertsConfig(enabled=False), secrets, metrics, source="bot/test")
    assert disabled.sinks == frozenset()
