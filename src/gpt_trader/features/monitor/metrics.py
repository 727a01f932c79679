"""One process-wide registry of counters and gauges.

Names are dotted (`risk.guards.daily_loss.critical_failures`) so metrics.json reads naturally; the
Prometheus export maps dots to underscores. prometheus_client is imported only when exporting.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


def _prom_name(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return f"gpt_trader_{out}"


class MetricsRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, float] = {}
        self._gauges: dict[str, float] = {}

    def inc(self, name: str, value: float = 1.0) -> None:
        if value < 0:
            raise ValueError(f"counter {name!r} cannot decrease (got {value})")
        with self._lock:
            self._counters[name] = self._counters.get(name, 0.0) + value

    def set_gauge(self, name: str, value: float) -> None:
        with self._lock:
            self._gauges[name] = float(value)

    def counter(self, name: str) -> float:
        return self._counters.get(name, 0.0)

    def gauge(self, name: str) -> float | None:
        return self._gauges.get(name)

    def counters(self) -> Mapping[str, float]:
        with self._lock:
            return dict(self._counters)

    def gauges(self) -> Mapping[str, float]:
        with self._lock:
            return dict(self._gauges)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"counters": dict(sorted(self._counters.items())), "gauges": dict(sorted(self._gauges.items()))}

    def write_json(self, path: Path, extra: Mapping[str, Any] | None = None) -> None:
        """Atomic write (tmp + rename) so a reader never sees half a file."""
        data = self.snapshot()
        if extra:
            data.update(extra)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
        os.replace(tmp, path)

    def collect_prometheus(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        for name, value in self.counters().items():
            yield CounterMetricFamily(_prom_name(name), name, value=value)
        for name, value in self.gauges().items():
            yield GaugeMetricFamily(_prom_name(name), name, value=value)

    def render_prometheus(self) -> bytes:
        """Prometheus text exposition of every metric in this registry."""
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        return generate_latest(registry)


class _Collector:
    def __init__(self, metrics: MetricsRegistry) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        return self._metrics.collect_prometheus()
