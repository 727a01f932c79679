"""The hand-written pages stay true to the code: every module path a page names exists, every alert
rule has a runbook section, every profile and command the getting-started page names exists."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from gpt_trader.cli import app
from gpt_trader.orchestration.configuration import PROFILES

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "src" / "gpt_trader"
PAGES = sorted(DOCS.glob("*.md"))
#: a backticked path: a file with a source-ish suffix, or a folder ending in /
PATH = re.compile(r"`([A-Za-z0-9_./-]+(?:\.(?:py|yaml|yml|json|md|sh)|/))`")
ANCHORED = ("src/", "tests/", "ops/", "benchmarks/", "docs/", "var/")


def _candidates(text: str) -> list[str]:
    out = []
    for raw in PATH.findall(text):
        if "<" in raw or "*" in raw or raw.startswith(("var/", "/", "path/", "my_")) or "/" not in raw:
            continue
        out.append(raw)
    return out


def _exists(raw: str) -> bool:
    if raw.startswith(ANCHORED):
        return (ROOT / raw).exists()
    if raw.startswith("features/") or raw.split("/")[0] in {p.name for p in PACKAGE.iterdir()}:
        return (PACKAGE / raw).exists()
    return (ROOT / raw).exists() or (PACKAGE / raw).exists()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_a_page_names_exists(page: Path) -> None:
    names = _candidates(page.read_text())
    missing = [raw for raw in names if not _exists(raw)]
    assert not missing, f"{page.name} names paths that do not exist: {missing}"


def test_architecture_names_the_modules_of_the_loop() -> None:
    names = set(_candidates((DOCS / "architecture.md").read_text()))
    assert len(names) > 40
    for module in (
        "orchestration/perps_bot.py",
        "orchestration/stream_feed.py",
        "features/live_trade/risk/pretrade.py",
    ):
        assert any(name.endswith(module) for name in names), module


def test_every_alert_has_a_runbook_section(gen_ref: ModuleType) -> None:
    runbook = (DOCS / "operations.md").read_text()
    headings = set(re.findall(r"^### (\w+)$", runbook, flags=re.M))
    alerts = {rule["alert"] for rule in gen_ref.alert_rules()}
    assert alerts, "no alert rules read"
    assert not alerts - headings, f"alerts without a runbook section: {sorted(alerts - headings)}"


def test_pages_name_real_profiles_and_commands() -> None:
    text = "\n".join(p.read_text() for p in PAGES)
    commands = {info.name for info in app.registered_commands}
    used = set(re.findall(r"perps-bot ([a-z][a-z-]+)", text))
    assert used - commands == set(), f"pages use commands the CLI lacks: {sorted(used - commands)}"
    used_profiles = set(re.findall(r"--profile ([a-z]+)(?=[\s`)])", text))
    assert used_profiles <= set(PROFILES), sorted(used_profiles - set(PROFILES))


def test_every_class_a_page_names_is_defined() -> None:
    """`PerpsBot`, `RiskManager`, ... : a class name in backticks must be a class in the package."""
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    defined = set(re.findall(r"^\s*class (\w+)", source, flags=re.M))
    for page in PAGES:
        named = set(re.findall(r"`([A-Z][a-z]+(?:[A-Z][a-z]*)+|[A-Z][a-z]{3,})`", page.read_text()))
        missing = sorted(named - defined)
        assert not missing, f"{page.name} names classes the code lacks: {missing}"
