"""Peak RSS of the live bot: runs the dev-fast session in a child process and reads its max RSS.

Also reports which heavy libraries the live path imported (there must be none).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HEAVY = ("pandas", "sklearn", "numba", "numpy", "sqlalchemy", "plotly", "matplotlib", "polars", "pyarrow", "aiohttp")

CHILD = rf"""
import sys, json
from gpt_trader.cli import run_bot
code = run_bot("dev", dev_fast=True)
heavy = [m for m in {HEAVY!r} if m in sys.modules]
print("@@" + json.dumps({{"exit": code, "heavy": heavy}}), file=sys.stderr)
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD], cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    info = {}
    for line in proc.stderr.splitlines():
        if line.startswith("@@"):
            info = json.loads(line[2:])
    print(f"dev-fast session: exit {proc.returncode}, wall {wall:.1f} s")
    print(f"peak RSS: {peak_kb / 1024:.1f} MB (target <= 50 MB)")
    print(f"heavy libraries imported on the live path: {info.get('heavy') or 'none'}")
    if proc.returncode != 0:
        print(proc.stderr[-2000:])
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
