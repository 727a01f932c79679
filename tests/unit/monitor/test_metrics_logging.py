import io
import json
from pathlib import Path

import pytest
import structlog

from gpt_trader.features.monitor.logging_setup import configure_logging
from gpt_trader.features.monitor.metrics import MetricsRegistry


def test_counters_gauges_and_json(tmp_path: Path) -> None:
    m = MetricsRegistry()
    m.inc("risk.guards.daily_loss.critical_failures")
    m.inc("risk.guards.daily_loss.critical_failures", 2)
    m.set_gauge("account.equity_usd", 1234.5)
    assert m.counter("risk.guards.daily_loss.critical_failures") == 3
    assert m.counter("never") == 0 and m.gauge("never") is None
    with pytest.raises(ValueError, match="cannot decrease"):
        m.inc("x", -1)
    path = tmp_path / "deep" / "metrics.json"
    m.write_json(path, extra={"cycle": 7})
    data = json.loads(path.read_text())
    assert data["counters"]["risk.guards.daily_loss.critical_failures"] == 3
    assert data["gauges"]["account.equity_usd"] == 1234.5 and data["cycle"] == 7
    assert not list(path.parent.glob("*.tmp"))


def test_prometheus_exposition() -> None:
    m = MetricsRegistry()
    m.inc("risk.guards.stale_mark.recoverable_failures", 4)
    m.set_gauge("orders.working", 2)
    text = m.render_prometheus().decode()
    assert 'gpt_trader_risk_guard_failures_total{guard="stale_mark",severity="recoverable"} 4.0' in text
    assert "gpt_trader_orders_working 2.0" in text


def test_logs_go_to_json_file_and_secrets_are_redacted(tmp_path: Path) -> None:
    console = io.StringIO()
    log_file = tmp_path / "logs" / "bot.jsonl"
    configure_logging(level="DEBUG", log_file=log_file, console_level="INFO", console=console)
    log = structlog.get_logger("t")
    log.debug("detail only in the file", n=1)
    log.info("order sent", symbol="BTC-USD", api_secret="TOPSECRET", private_key="PEMDATA", jwt="eyJ...")
    lines = [json.loads(x) for x in log_file.read_text().splitlines()]
    assert [x["event"] for x in lines] == ["detail only in the file", "order sent"]
    assert lines[1]["api_secret"] == "***" and lines[1]["private_key"] == "***" and lines[1]["jwt"] == "***"
    shown = console.getvalue()
    assert "order sent" in shown and "detail only in the file" not in shown
    assert "TOPSECRET" not in shown + log_file.read_text() and "PEMDATA" not in shown
    structlog.reset_defaults()


def test_labels_histograms_families_and_label_rules(tmp_path: Path) -> None:
    m = MetricsRegistry()
    m.inc("orders.status", labels={"status": "FILLED"})
    m.inc("orders.rejected.INSUFFICIENT_FUND", 2)
    m.inc("reconcile.missed_fill")
    m.set_gauge_family("position.size", "symbol", {"BTC-USD": 0.5, "ETH-USD": 1.0})
    m.set_gauge_family("position.size", "symbol", {"BTC-USD": 0.25})  # ETH closed: its sample goes
    for seconds in (0.002, 0.02, 3.0):
        m.observe("cycle.duration_seconds", seconds)
    m.set_counter("coinbase.rest.errors.http_429", 4)
    text = m.render_prometheus().decode()
    assert 'gpt_trader_orders_status_total{status="FILLED"} 1.0' in text
    assert 'gpt_trader_orders_rejected_by_reason_total{reason="INSUFFICIENT_FUND"} 2.0' in text
    assert 'gpt_trader_reconcile_corrections_total{kind="missed_fill"} 1.0' in text
    assert 'gpt_trader_coinbase_rest_errors_total{kind="http_429"} 4.0' in text
    assert 'gpt_trader_position_size{symbol="BTC-USD"} 0.25' in text and "ETH-USD" not in text
    assert 'gpt_trader_cycle_duration_seconds_bucket{le="0.0025"} 1.0' in text
    assert 'gpt_trader_cycle_duration_seconds_bucket{le="+Inf"} 3.0' in text
    assert "gpt_trader_cycle_duration_seconds_count 3.0" in text
    assert "# HELP gpt_trader_cycle_duration_seconds Wall time of one trading cycle" in text
    assert m.histogram_count("cycle.duration_seconds") == 3
    assert "gpt_trader_position_size" in m.exported_families()
    m.write_json(tmp_path / "m.json")
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["gauges"]["position.size{symbol=BTC-USD}"] == 0.25
    assert data["counters"]["orders.status{status=FILLED}"] == 1
    assert data["histograms"]["cycle.duration_seconds"]["count"] == 3


def test_dedicated_registry_not_the_global_one() -> None:
    from prometheus_client import REGISTRY

    m = MetricsRegistry()
    m.inc("cycles")
    assert m.prometheus_registry() is not REGISTRY
    assert REGISTRY.get_sample_value("gpt_trader_cycles_total") is None
