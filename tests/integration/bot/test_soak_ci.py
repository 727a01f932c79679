"""The soak's CI variant (issue 17): `benchmarks/soak.py` for 3 wall minutes at speed 60 (three simulated
hours, a restart into a venue burst it must wait out, every kind of fault); it exits 0 only with no growth
of RSS, fds or asyncio tasks, no stuck, lost or duplicate order, no supervisor restart, and the bot's fills
equal to the exchange's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SOAK = Path(__file__).resolve().parents[3] / "benchmarks" / "soak.py"


def test_soak_three_minutes_under_faults_and_a_restart() -> None:
    args = ["--wall-s", "180", "--speed", "60", "--restart-every-h", "1.5", "--fault-every-s", "12", "--warmup-s", "25"]
    proc = subprocess.run([sys.executable, str(SOAK), *args], capture_output=True, text=True, timeout=420)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # 3 simulated hours with a restart every 1.5: one or two restarts, as the venue clock ran
    restarts = re.search(r"(\d+) restarts", proc.stdout)
    assert "PASS" in proc.stdout and restarts is not None and int(restarts.group(1)) >= 1, proc.stdout
    # each restart walks into a venue burst: the new process waits it out, the supervisor is never needed
    waited = re.search(r"(\d+) restart-waits", proc.stdout)
    assert waited is not None and int(waited.group(1)) >= 1, proc.stdout
    assert "0 supervisor restarts" in proc.stdout, proc.stdout
    for fault in ("latency", "http429", "http5xx", "drop_ws", "seq_gap", "stall", "reject_orders"):
        assert f"'{fault}'" in proc.stdout, f"the soak never applied {fault}: {proc.stdout[:400]}"
