"""`perps-bot preflight --profile P [--json]`: the checks of `preflight.Preflight` as a table (or JSON).
Exit 0 when nothing failed (warnings allowed), 1 on any failed check; a bad configuration is a
ConfigError, which the CLI maps to exit 2."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gpt_trader.orchestration.preflight import Check

ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="dev | canary | prod | demo, or a YAML file")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object instead of the table")]

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def preflight_command(profile: ProfileOpt = "canary", json_output: JsonOpt = False) -> None:
    """Check keys, permissions, clock, symbols, INTX, balances, risk limits, store, disk, reconciliation."""
    from gpt_trader.features.monitor.logging_setup import configure_logging
    from gpt_trader.orchestration.configuration import ConfigManager
    from gpt_trader.orchestration.preflight import Preflight

    configure_logging(level="WARNING")  # the table (or the JSON) is the output; log lines go to stderr
    manager = ConfigManager()
    config = manager.load(profile)
    preflight = Preflight(config, manager.credentials())
    checks = asyncio.run(preflight.run())
    typer.echo(render(config.profile, checks, json_output=json_output), nl=False)
    raise typer.Exit(code=1 if preflight.failed else 0)


def render(profile: str, checks: Sequence[Check], *, json_output: bool = False, width: int = 160) -> str:
    """The report: a rich table and a verdict line, or one JSON object (`ok`, `checks`)."""
    failed = [c.name for c in checks if c.status == "fail"]
    if json_output:
        import msgspec

        doc = {"profile": profile, "ok": not failed, "checks": msgspec.to_builtins(list(checks))}
        return json.dumps(doc, indent=2) + "\n"
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Preflight: profile {profile}")
    for col in ("check", "status", "detail"):
        table.add_column(col, overflow="fold")
    for c in checks:
        table.add_row(c.name, f"[{_STYLE[c.status]}]{c.status.upper()}[/]", c.detail)
    console = Console(width=width, record=True, file=io.StringIO(), force_terminal=False)
    console.print(table)
    console.print("[bold red]FAILED[/]: " + ", ".join(failed) if failed else "[green]ready[/]")
    return console.export_text()
