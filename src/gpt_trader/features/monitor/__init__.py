"""Observability. Entry points: `metrics.MetricsRegistry` (the one registry: counters, gauges, histograms;
metrics.json and Prometheus), `http_server.MonitoringServer` + `HealthBoard` (`/metrics`, `/health`),
`alerts.Alerter` (Slack / PagerDuty, off the trading loop), `config` (the `monitoring:` and `alerts:`
sections), `health.write_health` (the health file), `logging_setup.configure_logging`. The bot wires them
in `orchestration/monitoring.py` (MonitorPublisher)."""
