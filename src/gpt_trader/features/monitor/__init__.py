"""Observability. Entry points: `metrics.MetricsRegistry` (counters/gauges, metrics.json, Prometheus)."""
