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


#: attributes every LogRecord has; anything else on a record came in through `extra=` and is kept as a field
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class _ToStructlog(logging.Handler):
    """stdlib records (the Coinbase adapter, its WebSockets, triggers and INTX check, and libraries' warnings)
    into the structlog pipeline: redacted, written to the JSON log file, shown on the console."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS}
            fields["logger"] = record.name
            if record.exc_info:
                fields["exc_info"] = record.exc_info
            structlog.get_logger(record.name).log(record.levelno, record.getMessage(), **fields)
        except Exception:
            self.handleError(record)


class _CurrentStderr:
    """`sys.stderr` as it is at each write, not as it was when logging was configured: a runner that swaps
    stderr for a while (typer's CliRunner, pytest's capture) and closes its stream must not leave every later
    log line writing to a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


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
        logger_factory=structlog.PrintLoggerFactory(console or _CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _ToStructlog)]:
        root.removeHandler(handler)
    root.addHandler(_ToStructlog())
    root.setLevel(logging.WARNING)  # libraries: warnings and worse
    logging.getLogger("gpt_trader").setLevel(min(file_level, con_level))  # our stdlib loggers: as configured
