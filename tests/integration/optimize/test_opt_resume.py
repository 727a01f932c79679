"""Kill an optimize process half way with a signal, rerun with --resume: the study continues."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opt_helpers import BTC_5M


def _cmd(db: Path, trials: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "gpt_trader.cli", "optimize", "--strategy", "sma_cross", "--data", BTC_5M,
        "--space", "fast=5..30,slow=40..120", "--method", "random", "--seed", "11", "--trials", str(trials),
        "--storage", f"sqlite:///{db}", "--json", "--no-progress", *extra,
    ]  # fmt: skip


def _stored(db: Path) -> list[tuple[int, str, str]]:
    """(number, state, params as 'name=value' joined) of every stored trial."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as con:
            rows = con.execute(
                "SELECT t.number, t.state, group_concat(p.param_name || '=' || p.param_value, ',') "
                "FROM trials t LEFT JOIN trial_params p ON p.trial_id = t.trial_id "
                "GROUP BY t.trial_id ORDER BY t.number"
            ).fetchall()
    except sqlite3.OperationalError:  # the tables are not created yet
        return []
    return [(int(n), str(s), str(p)) for n, s, p in rows]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_study_resumes_without_repeating_a_trial(tmp_path: Path, sig: signal.Signals) -> None:
    db = tmp_path / "resume.db"
    proc = subprocess.Popen(_cmd(db, 5000), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(_stored(db)) < 40:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first run stored no 40 trials in 120 s"
        time.sleep(0.2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    first = json.loads(out)
    assert first["interrupted"] is True and 40 <= first["trials"] < 5000
    before = _stored(db)
    assert len(before) == first["trials"] and all(s == "COMPLETE" for _, s, _ in before)  # nothing half-done

    res = subprocess.run(_cmd(db, 30, "--resume"), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    second = json.loads(res.stdout)
    assert second["trials"] == first["trials"] + 30 and second["trials_this_run"] == 30
    after = _stored(db)
    assert [n for n, _, _ in after] == list(range(len(after)))  # numbers continue, none repeated
    assert after[: len(before)] == before  # the first run's trials are kept as they were
    new = [p for _, _, p in after[len(before) :]]
    assert new[:10] != [p for _, _, p in before[:10]]  # the resumed sampler does not replay the first sequence


def test_resume_without_a_study_is_refused(tmp_path: Path) -> None:
    res = subprocess.run(_cmd(tmp_path / "none.db", 5, "--resume"), capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--resume: no study" in res.stderr
