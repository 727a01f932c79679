"""`perps-bot verify`: runs a named group (here one tiny test file) in a pytest subprocess and tabulates
the result; a failing group exits 1; an unknown group exits 2 naming what is allowed."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gpt_trader.cli import app
from gpt_trader.orchestration.verify_cli import GROUPS, project_root, resolve_groups


def test_runs_a_tiny_group_and_prints_the_table() -> None:
    result = CliRunner().invoke(app, ["verify", "--check", "tests/unit/monitor/test_http_server.py"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "test_http_server" in line)
    assert "PASS" in row and " 2 " in row  # two tests passed


def test_a_failing_group_exits_one(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_bad.py").write_text("def test_ok():\n    pass\n\ndef test_bad():\n    assert 1 == 2\n")
    result = CliRunner().invoke(app, ["verify", "--root", str(tmp_path), "--check", "tests/test_bad.py"])
    assert result.exit_code == 1
    row = next(line for line in result.stdout.splitlines() if "test_bad.py" in line)
    assert "FAIL" in row and " 1 " in row


def test_unknown_group_is_refused_and_all_expands() -> None:
    result = CliRunner().invoke(app, ["verify", "--check", "everything"])
    assert result.exit_code == 2 and "'everything' is not a group" in result.output
    root = project_root()
    assert root is not None
    assert [name for name, _ in resolve_groups(["all"], root)] == ["unit", "integration", "scenarios", "chaos"]
    assert resolve_groups(["risk"], root) == [("risk", GROUPS["risk"])]
