"""The docs site builds with `mkdocs build --strict` (what `make docs` runs): no broken link, anchor,
nav entry or snippet, and the generated reference pages are in it. This is how CI checks the docs:
`make test` runs it, so .ci/run needs no extra step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    for page in ("reference/cli", "reference/configuration", "reference/risk", "reference/alerts", "reference/metrics"):
        assert (site / page / "index.html").is_file(), page
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "perps-bot exchange-sim" in cli and "--accept-exchange" in cli
    strategy = (site / "strategy" / "index.html").read_text()
    assert "channel_high" in strategy and "BreakoutParams" in strategy  # the tested file itself, included


def test_make_docs_runs_mkdocs_strict() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "mkdocs build --strict" in makefile.split("\ndocs:", 1)[1].split("\n\n", 1)[0]
