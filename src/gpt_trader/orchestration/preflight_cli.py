"""`perps-bot preflight --profile P [--json]`: the checks of `preflight.Preflight` as a table (or JSON).
Exit 0 when nothing failed (warnings allowed), 1 on any failed check, 2 on a bad configuration."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="dev | canary | prod | demo, or a YAML file")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object instead of the table")]

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def preflight_command(profile: ProfileOpt = "canary", json_output: JsonOpt = False) -> None:
    """Check keys, permissions, clock, symbols, INTX, balances, risk limits, store, disk, reconciliation."""
    import msgspec

    from gpt_trader.features.monitor.logging_setup import configure_logging
    from gpt_trader.orchestration.configuration import ConfigError, ConfigManager
    from gpt_trader.orchestration.preflight import Preflight

    configure_logging(level="WARNING")  # the table (or the JSON) is the output; log lines go to stderr

    manager = ConfigManager()
    try:
        config = manager.load(profile)
        credentials = manager.credentials()
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    preflight = Preflight(config, credentials)
    checks = asyncio.run(preflight.run())
    if json_output:
        doc = {"profile": config.profile, "ok": not preflight.failed, "checks": msgspec.to_builtins(checks)}
        typer.echo(json.dumps(doc, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"Preflight: profile {config.profile}")
        for col in ("check", "status", "detail"):
            table.add_column(col, overflow="fold")
        for c in checks:
            table.add_row(c.name, f"[{_STYLE[c.status]}]{c.status.upper()}[/]", c.detail)
        console = Console(width=160)
        console.print(table)
        failed = [c.name for c in checks if c.status == "fail"]
        console.print("[bold red]FAILED[/]: " + ", ".join(failed) if failed else "[green]ready[/]")
    raise typer.Exit(code=1 if preflight.failed else 0)
