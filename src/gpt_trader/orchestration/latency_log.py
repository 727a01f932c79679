"""`LatencyLog`: how long the bot takes from the stream event that closed a bar to the order it sends."""

from __future__ import annotations

from collections import deque

from gpt_trader.features.monitor.metrics import MetricsRegistry


class LatencyLog:
    """Milliseconds from the stream event that closed a bar to the order leaving the bot (`decision`; the
    first order of a cycle alone: `decision_first`) and to the venue's acknowledgement (`ack`). `decision`
    splits into `queued` (the event waiting for the bot to finish what it was doing, e.g. the previous
    cycle's sends) and `work` (its bar taken -> order out: decide, risk-check, the intents' commit); `commit`
    is that one commit alone (the fsync exactly-once needs before a send). Orders on a bar the stream had not
    seen whole (start-up mid-bar, a gap) wait for its REST repair: they count apart, `repaired` and
    `repaired_ack`. p50/p90/p99/max and the sample count go to the metrics."""

    KINDS = ("decision", "decision_first", "ack", "queued", "work", "commit", "repaired", "repaired_ack")

    def __init__(self, size: int = 5000) -> None:
        self.samples: dict[str, deque[float]] = {k: deque(maxlen=size) for k in self.KINDS}
        self._new = False

    def record(self, kind: str, ms: float) -> None:
        self.samples[kind].append(ms)
        self._new = True

    def percentile(self, kind: str, q: float) -> float | None:
        return _pick(sorted(self.samples[kind]), q)

    def publish(self, metrics: MetricsRegistry) -> None:
        """Each kind's figures as gauges (one sort per kind, only when samples came in since the last)."""
        if not self._new:
            return
        self._new = False
        for kind, samples in self.samples.items():
            data = sorted(samples)
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
                value = _pick(data, q)
                if value is not None:
                    metrics.set_gauge(f"stream.latency.{kind}_ms.{name}", value)
            metrics.set_gauge(f"stream.latency.{kind}_ms.samples", float(len(data)))


def _pick(data: list[float], q: float) -> float | None:
    """The `q` quantile of sorted `data` (nearest rank), None when empty."""
    if not data:
        return None
    return data[min(len(data) - 1, int(q * len(data)))]
