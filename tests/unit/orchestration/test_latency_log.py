"""LatencyLog: percentiles over the samples, published as gauges only when new samples came."""

from __future__ import annotations

from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.latency_log import LatencyLog


def test_percentiles_and_gauges() -> None:
    log = LatencyLog(size=100)
    assert log.percentile("decision", 0.5) is None
    for ms in range(1, 101):
        log.record("decision", float(ms))
    assert log.percentile("decision", 0.5) == 51.0
    assert log.percentile("decision", 0.99) == 100.0
    metrics = MetricsRegistry()
    log.publish(metrics)
    assert metrics.gauge("stream.latency.decision_ms.p99") == 100.0
    assert metrics.gauge("stream.latency.ack_ms.p50") is None  # no ack samples
    metrics.set_gauge("stream.latency.decision_ms.p99", 0.0)
    log.publish(metrics)  # nothing new: gauges left as they are
    assert metrics.gauge("stream.latency.decision_ms.p99") == 0.0
