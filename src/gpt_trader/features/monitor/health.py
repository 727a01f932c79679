"""Health file: a small JSON document a supervisor or dashboard can poll (atomic writes)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Indented, key-sorted JSON written to a temporary file and renamed over `path`, so a reader never
    sees half a document. msgspec encodes it (a cycle writes two of these: stdlib json cost ~1 ms)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    encoded = msgspec.json.encode(data, order="sorted", enc_hook=str)
    tmp.write_bytes(msgspec.json.format(encoded, indent=2))
    os.replace(tmp, path)


def write_health(path: Path, status: dict[str, Any]) -> None:
    write_json_atomic(path, status)
