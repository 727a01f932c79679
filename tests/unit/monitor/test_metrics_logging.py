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
