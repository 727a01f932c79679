"""`perps-bot verify [--check all|unit|integration|risk|chaos|...]`: run named groups of the project's own
test suite (a pytest subprocess per group, results read from its JUnit XML) and print a summary table.
Exit 0 when every group passed, 1 otherwise, 2 for an unknown group or a missing tests/ directory."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

#: group -> pytest arguments (paths, markers). `all` runs the disjoint ones: unit, integration, scenarios, chaos.
GROUPS: dict[str, list[str]] = {
    "unit": ["tests/unit"],
    "integration": ["tests/integration"],
    "scenarios": ["tests/scenarios"],
    "chaos": ["tests/chaos"],
    "risk": ["tests/unit/risk", "tests/scenarios"],
    "monitor": ["tests/unit/monitor", "tests/integration/monitor"],
    "durability": ["tests/unit/durability", "tests/integration/durability"],
    "exchange_sim": ["tests/unit/exchange_sim", "tests/integration/exchange_sim"],
    "coinbase": ["tests/unit/coinbase", "tests/integration/coinbase"],
    "backtest": ["tests/unit/backtest", "tests/integration/backtest"],
    "fast": ["tests/unit", "-m", "not slow"],
}
ALL = ("unit", "integration", "scenarios", "chaos")

CheckOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--check",
        "-c",
        help=f"Group to run (repeatable): all, {', '.join(GROUPS)}; or a test path under tests/",
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", "-n", help="pytest-xdist workers per group (0 = none)")]
RootOpt = Annotated[Path | None, typer.Option("--root", help="Project root holding tests/ (default: found)")]


@dataclass
class GroupResult:
    """One group's outcome, from its JUnit XML (or the exit code when pytest produced none)."""

    name: str
    exit_code: int
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped

    @property
    def ok(self) -> bool:
        return self.exit_code in (0, 5) and not (self.failures or self.errors)  # 5 = nothing collected


def project_root(start: Path | None = None) -> Path | None:
    """The nearest directory (cwd upwards, then the package's checkout) that holds tests/ and pyproject.toml."""
    candidates = [Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents]
    if start is not None:
        candidates.insert(0, start)
    return next((p for p in candidates if (p / "tests").is_dir() and (p / "pyproject.toml").is_file()), None)


def resolve_groups(checks: list[str], root: Path) -> list[tuple[str, list[str]]]:
    """Names (or paths) -> (label, pytest args). Raises ValueError naming what is unknown."""
    out: list[tuple[str, list[str]]] = []
    for check in checks or ["all"]:
        if check == "all":
            out.extend((g, GROUPS[g]) for g in ALL)
        elif check in GROUPS:
            out.append((check, GROUPS[check]))
        elif check.startswith("tests/") and (root / check.split("::", 1)[0]).exists():
            out.append((check, [check]))
        else:
            raise ValueError(f"--check {check!r} is not a group or a test path; allowed: all, {', '.join(GROUPS)}")
    return out


def run_group(name: str, args: list[str], root: Path, *, workers: int = 0) -> GroupResult:
    with tempfile.TemporaryDirectory(prefix="verify-") as tmp:
        report = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", *args, "-q", "-p", "no:randomly", f"--junitxml={report}"]
        if workers > 0:
            cmd += ["-n", str(workers)]
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        result = GroupResult(name=name, exit_code=proc.returncode, seconds=time.monotonic() - started)
        if report.is_file():
            for suite in ET.parse(report).getroot().iter("testsuite"):
                result.tests += int(suite.get("tests", 0))
                result.failures += int(suite.get("failures", 0))
                result.errors += int(suite.get("errors", 0))
                result.skipped += int(suite.get("skipped", 0))
        if not result.ok:
            tail = "\n".join(proc.stdout.splitlines()[-30:])
            typer.echo(f"--- {name}: pytest exit {proc.returncode}; last lines:\n{tail}", err=True)
        return result


def verify_command(check: CheckOpt = None, workers: WorkersOpt = 0, root: RootOpt = None) -> None:
    """Run the named groups of the project's own test suite and print a summary table."""
    from rich.console import Console
    from rich.table import Table

    found = project_root(root)
    if found is None:
        typer.echo("verify needs the project checkout (a directory with tests/ and pyproject.toml)", err=True)
        raise typer.Exit(code=2)
    try:
        groups = resolve_groups(list(check or []), found)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    results = [run_group(name, args, found, workers=workers) for name, args in groups]
    table = Table(title="perps-bot verify")
    for col in ("group", "result", "passed", "failed", "errors", "skipped", "seconds"):
        table.add_column(col, justify="left" if col in ("group", "result") else "right")
    for r in results:
        table.add_row(
            r.name,
            "[green]PASS[/]" if r.ok else "[bold red]FAIL[/]",
            str(r.passed),
            str(r.failures),
            str(r.errors),
            str(r.skipped),
            f"{r.seconds:.1f}",
        )
    Console(width=120).print(table)
    raise typer.Exit(code=0 if all(r.ok for r in results) else 1)
