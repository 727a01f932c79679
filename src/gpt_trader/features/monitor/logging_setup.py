"""structlog setup: JSON lines to a file (everything at the configured level) and readable console
output. A redaction processor strips secrets before anything is rendered anywhere."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_SECRET_MARKERS = ("secret", "private_key", "privatekey", "password", "jwt", "signature", "authorization", "api_key")
REDACTED = "***"


def redact_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if any(marker in key.lower() for marker in _SECRET_MARKERS):
            event[key] = REDACTED
    return event


class _Tee:
    """Writes each event as a JSON line to the file, then passes it on for console rendering
    unless it is below the console level (raises DropEvent in that case)."""

    def __init__(self, stream: TextIO | None, file_level: int, console_level: int) -> None:
        self._stream = stream
        self._file_level = file_level
        self._console_level = console_level

    def __call__(self, _logger: Any, name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        level = _LEVELS.get(str(event.get("level", "info")).upper(), 20)
        if self._stream is not None and level >= self._file_level:
            self._stream.write(json.dumps(event, default=str, sort_keys=True) + "\n")
            self._stream.flush()
        if level < self._console_level:
            raise structlog.DropEvent
        return event


def configure_logging(
    *,
    level: str = "INFO",
    log_file: Path | None = None,
    console_level: str | None = None,
    console: TextIO | None = None,
) -> None:
    file_level = _LEVELS[level.upper()]
    con_level = _LEVELS[(console_level or level).upper()]
    stream: TextIO | None = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        stream = log_file.open("a", encoding="utf-8")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            _Tee(stream, file_level, con_level),
            structlog.dev.ConsoleRenderer(colors=False, pad_event_to=40),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(min(file_level, con_level)),
        logger_factory=structlog.PrintLoggerFactory(console or sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.WARNING)
