"""Optimize speed: 1,000 TPE trials of sma_cross on one symbol-year of 1-minute bars (525,600), 2 jobs.

Runs the whole `perps-bot optimize ... --trials 1000 --jobs 2 --json` process (start-up, bar loading,
the process pool, SQLite storage, the overfitting measures) and prints its wall time, the best trial,
and how many distinct parameter sets were backtested (a repeated suggestion is not run again).
Bars: the seeded random walk of benchmarks/backtest_speed.py. Target (issue 16): <= 60 s wall on 2 cores.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from backtest_speed import make_bars

OUT = Path("var/bench/optimize")
TRIALS = 1000


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    data = OUT / "bench_1m_year.parquet"
    if not data.exists():
        make_bars().to_parquet(data)
    db = OUT / "bench.db"
    db.unlink(missing_ok=True)
    exe = shutil.which("perps-bot") or str(Path(sys.executable).with_name("perps-bot"))
    cmd = [
        exe,
        "optimize",
        "--strategy",
        "sma_cross",
        "--data",
        str(data),
        "--symbol",
        "BTC-USD",
        "--granularity",
        "1m",
        "--space",
        "fast=5..50,slow=20..200",
        "--trials",
        str(TRIALS),
        "--jobs",
        "2",
        "--seed",
        "7",
        "--storage",
        f"sqlite:///{db}",
        "--json",
        "--no-progress",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    out = json.loads(proc.stdout)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=out["study"], storage=f"sqlite:///{db}")
    distinct = len({tuple(sorted(t.params.items())) for t in study.trials})
    print("bars: 525,600 1m (one symbol-year), sma_cross, --space fast=5..50,slow=20..200, TPE, --jobs 2")
    print(
        f"trials completed: {out['trials']} ({distinct} distinct parameter sets backtested), "
        f"stored: {len(study.trials)}"
    )
    print(f"best: {out['best_params']} sharpe {out['best_value']:.3f}; PBO {out['overfitting']['pbo']}")
    print(
        f"whole `perps-bot optimize` process: {wall:.1f} s wall "
        f"(its elapsed_s {out['elapsed_s']:.1f} s); target <= 60 s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
