"""Peak RSS of the live bot: runs the dev-fast session (mock venue) in a child process and reads its max RSS,
then the Coinbase path: the canary bot streaming 10 symbols from the exchange simulator over HTTPS/WSS for a
few simulated minutes (`stream_rest_budget.py`, which reads the bot's VmHWM while it trades and its growth
from minute 2).

Also reports which heavy libraries and research slices the live path imported (there must be none).
`--strategy NAME` runs the dev profile with another strategy (e.g. the regime-aware `regime_trend`);
`--sim-minutes N` sets the simulated minutes on the simulator (default 4; 0 skips it).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HEAVY = (
    "pandas",
    "sklearn",
    "hmmlearn",
    "scipy",
    "numba",
    "numpy",
    "sqlalchemy",
    "plotly",
    "matplotlib",
    "polars",
    "pyarrow",
    "aiohttp",
    "cryptography",
    "gpt_trader.features.backtest",
    "gpt_trader.features.market_regime",
    "gpt_trader.features.ml_strategy",
    "gpt_trader.features.adaptive_portfolio",
)

CHILD = rf"""
import sys, json
from gpt_trader.cli import run_bot
code = run_bot(sys.argv[1], dev_fast=True)
heavy = [m for m in {HEAVY!r} if m in sys.modules]
print("@@" + json.dumps({{"exit": code, "heavy": heavy}}), file=sys.stderr)
"""


def _profile(tmp: str, strategy: str | None) -> str:
    """The dev profile, or a copy of it whose strategy is `strategy` (default parameters)."""
    if strategy is None:
        return "dev"
    from importlib.resources import files

    import yaml

    data = yaml.safe_load((files("gpt_trader.config") / "profiles" / "dev.yaml").read_text())
    data["strategy"] = {**data["strategy"], "name": strategy, "params": {}}
    path = os.path.join(tmp, f"dev_{strategy}.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(data, fh)
    return path


def main() -> int:
    strategy = sys.argv[sys.argv.index("--strategy") + 1] if "--strategy" in sys.argv else None
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        profile = _profile(tmp, strategy)
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, profile], cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    info = {}
    for line in proc.stderr.splitlines():
        if line.startswith("@@"):
            info = json.loads(line[2:])
    print(f"dev-fast session ({strategy or 'profile strategy'}): exit {proc.returncode}, wall {wall:.1f} s")
    print(f"peak RSS: {peak_kb / 1024:.1f} MB (target <= 50 MB)")
    print(f"heavy libraries imported on the live path: {info.get('heavy') or 'none'}")
    if proc.returncode != 0:
        print(proc.stderr[-2000:])
        return proc.returncode
    minutes = float(sys.argv[sys.argv.index("--sim-minutes") + 1]) if "--sim-minutes" in sys.argv else 4.0
    if minutes <= 0:
        return 0
    budget = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stream_rest_budget.py")
    sim = subprocess.run(
        [sys.executable, budget, "--minutes", str(minutes)], capture_output=True, text=True, timeout=1800
    )
    lines = sim.stdout.splitlines()
    print(f"Coinbase path on the simulator (canary profile, {lines[0] if lines else '?'}):")
    for line in lines:
        if line.startswith(("bot RSS", "load average", "bot exit")):
            print("  " + line)
    if sim.returncode != 0:
        print(sim.stdout[-2000:] + sim.stderr[-2000:])
    return sim.returncode


if __name__ == "__main__":
    sys.exit(main())
