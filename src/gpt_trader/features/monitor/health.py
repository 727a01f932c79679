"""Health file: a small JSON document a supervisor or dashboard can poll (atomic writes)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_health(path: Path, status: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(status, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)
