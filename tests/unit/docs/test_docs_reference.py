"""The generated references list every command, option, configuration key, env var, guard, pre-trade
rule and alert the code has. Expectations are read from the code independently of the generator:
`--help` output of every command, msgspec's view of the config structs, the source of pretrade.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from gpt_trader.cli import app
from gpt_trader.features.live_trade.risk.config import GUARD_NAMES, RiskConfig
from gpt_trader.orchestration.configuration import ALERT_SECRET_ENV, ENV_OVERRIDES, SECRET_ENV, BotConfig

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
PANEL = re.compile(r"^╭─ (.+?) ─")
ROW = re.compile(r"^│ ((?:-{1,2}[\w-]+[ ,]*)+)")


def _panel_rows(text: str) -> Iterator[tuple[str, str]]:
    """(panel title, row text) for every row of every panel of a rich --help."""
    panel = ""
    for line in text.splitlines():
        head = PANEL.match(line)
        if head:
            panel = head.group(1)
        elif line.startswith("│ "):
            yield panel, line


def _help_options(text: str) -> set[str]:
    """Long options in the first column of every panel of a rich --help but Commands."""
    found: set[str] = set()
    for panel, line in _panel_rows(text):
        row = ROW.match(line)
        if row and panel != "Commands":
            found |= set(OPTION.findall(row.group(1)))
    return found - {"--help"}


def _subcommands(text: str) -> list[str]:
    rows = (re.match(r"^│ ([a-z][a-z0-9-]*)\s", line) for panel, line in _panel_rows(text) if panel == "Commands")
    return [row.group(1) for row in rows if row]


def _sections(markdown: str) -> dict[str, str]:
    """Heading text `perps-bot ...` -> the section body below it."""
    parts = re.split(r"^#{2,4} `(perps-bot[^`]*)`$", markdown, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "400", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_reference_lists_every_command_and_option(gen_ref: ModuleType) -> None:
    sections = _sections(gen_ref.cli_markdown())
    top = [info.name for info in app.registered_commands if info.name]
    assert top and all(f"perps-bot {name}" in sections for name in top), sorted(sections)
    assert sorted(_subcommands(_help([]))) == sorted(top)
    commands: list[list[str]] = [[]]
    checked = 0
    while commands:
        path = commands.pop()
        text = _help(path)
        body = sections.get(" ".join(["perps-bot", *path]))
        assert body is not None, f"perps-bot {' '.join(path)} is missing from the CLI reference"
        for option in _help_options(text):
            assert f"`{option}`" in body, f"{option} of perps-bot {' '.join(path)} is missing"
            checked += 1
        commands += [[*path, sub] for sub in _subcommands(text)]  # a group: its sub-commands
    assert checked > 90  # every command's options were compared, not just a few


def _keys(cls: type[msgspec.Struct], prefix: str = "") -> list[str]:
    out: list[str] = []
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        key = prefix + field.name
        out.append(key)
        out += _nested(field.type, key)
    return out


def _nested(tp: Any, key: str) -> list[str]:
    if isinstance(tp, msgspec.inspect.UnionType):
        return [k for t in tp.types for k in _nested(t, key)]
    if isinstance(tp, msgspec.inspect.StructType):
        return _keys(tp.cls, key + ".")
    if isinstance(tp, msgspec.inspect.ListType) and isinstance(tp.item_type, msgspec.inspect.StructType):
        return _keys(tp.item_type.cls, key + "[].")
    if isinstance(tp, msgspec.inspect.DictType) and isinstance(tp.value_type, msgspec.inspect.StructType):
        return _keys(tp.value_type.cls, key + ".<KEY>.")
    return []


def test_configuration_reference_lists_every_key_with_its_env_var(gen_ref: ModuleType) -> None:
    page = gen_ref.config_markdown()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([^`]+)` \|.*$", page, flags=re.M)}
    keys = _keys(BotConfig)
    assert len(keys) > 100
    missing = [k for k in keys if k not in rows]
    assert not missing, f"keys missing from the configuration reference: {missing}"
    for var, (dotted, _kind) in ENV_OVERRIDES.items():
        assert f"`{var}`" in rows[dotted], f"{var} is not shown next to {dotted}"
    for var in [*SECRET_ENV, *ALERT_SECRET_ENV]:
        assert f"| `{var}` |" in page
    defaults = RiskConfig()
    assert f"| `risk.max_daily_loss_pct` | decimal | `{defaults.max_daily_loss_pct}` |" in page


def test_risk_reference_lists_every_guard_and_rule(gen_ref: ModuleType) -> None:
    page = gen_ref.risk_markdown()
    for guard in GUARD_NAMES:
        assert re.search(rf"^### `{guard}`$", page, flags=re.M), guard
        assert f"`risk.guards.{guard}.critical_failures`" in page, guard
    source = gen_ref.PRETRADE_FILE.read_text()
    rules = set(re.findall(r'_reject\(\s*"([a-z_]+)"', source))
    assert len(rules) > 10
    for rule in rules:
        assert f"`risk.pretrade.{rule}.rejections`" in page, rule
    assert "undocumented rule" not in page, "a pre-trade rule has no entry in gen_ref.PRETRADE_DOCS"


def test_alerts_reference_lists_every_alert(gen_ref: ModuleType) -> None:
    page = gen_ref.alerts_markdown()
    text = gen_ref.ALERTS_FILE.read_text()
    names = re.findall(r"^\s+- alert: (\w+)$", text, flags=re.M)
    assert len(names) >= 5
    for name in names:
        assert f"[`{name}`]" in page


def test_forwarded_commands_are_read_from_the_cli_source(gen_ref: ModuleType) -> None:
    forwarded = gen_ref.forwarded_commands()
    assert forwarded["backtest"] == ("gpt_trader.features.backtest.cli", "backtest_command")
    assert "run" not in forwarded and "config-check" not in forwarded


@pytest.mark.parametrize("bad", ["<KEY>", "[]"])
def test_nested_key_shapes_are_rendered(gen_ref: ModuleType, bad: str) -> None:
    assert any(bad in row.key for row in gen_ref.config_keys())


def test_hand_written_meanings_name_real_keys_and_rules(gen_ref: ModuleType) -> None:
    keys = set(_keys(BotConfig))
    assert set(gen_ref.KEY_DOCS) <= keys, sorted(set(gen_ref.KEY_DOCS) - keys)
    assert set(gen_ref.PRETRADE_DOCS) <= set(gen_ref.pretrade_rules()), "PRETRADE_DOCS names a rule the code lacks"
    assert set(gen_ref.GUARD_DOCS) <= set(GUARD_NAMES)


def test_every_metric_an_alert_uses_is_documented(gen_ref: ModuleType) -> None:
    """The alert rules and the metrics reference speak of the same families."""
    page = gen_ref.metrics_markdown()
    documented = {prom for _name, prom, _labels, _meaning in gen_ref.metric_families()}
    used = set(re.findall(r"\b(gpt_trader_[a-z0-9_]+)", gen_ref.ALERTS_FILE.read_text()))
    assert used
    for metric in used:
        base = metric.removesuffix("_total")
        assert base in documented, f"{metric} (alerts.yml) is not a documented metric family"
        assert f"`{base}`" in page
