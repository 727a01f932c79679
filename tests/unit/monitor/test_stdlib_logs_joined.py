"""The adapter's stdlib loggers (Coinbase REST/WebSocket, triggers, INTX check) reach the bot's JSON log
through structlog, with their `extra=` fields, redacted; libraries below WARNING stay out."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import structlog

from gpt_trader.features.monitor.logging_setup import configure_logging


def test_stdlib_records_join_the_json_log_redacted(tmp_path: Path) -> None:
    console = io.StringIO()
    log_file = tmp_path / "bot.jsonl"
    configure_logging(level="INFO", log_file=log_file, console=console)
    configure_logging(level="INFO", log_file=log_file, console=console)  # again: one handler, not two
    try:
        logging.getLogger("gpt_trader.features.brokerages.coinbase.ws").warning("ws %s disconnected: %s", "user", "EOF")
        logging.getLogger("gpt_trader.features.brokerages.coinbase.broker").info(
            "coinbase connected", extra={"products": 13, "api_secret": "TOPSECRET"}
        )
        logging.getLogger("some.library").info("chatter below WARNING")
        lines = [json.loads(x) for x in log_file.read_text().splitlines()]
    finally:
        structlog.reset_defaults()
        root = logging.getLogger()
        for handler in list(root.handlers):
            if type(handler).__name__ == "_ToStructlog":
                root.removeHandler(handler)
    events = [x["event"] for x in lines]
    assert events == ["ws user disconnected: EOF", "coinbase connected"]
    assert lines[0]["level"] == "warning" and lines[0]["logger"].endswith("coinbase.ws")
    assert lines[1]["products"] == 13 and lines[1]["api_secret"] == "***"
    assert "TOPSECRET" not in log_file.read_text() + console.getvalue()
