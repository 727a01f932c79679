"""`perps-bot dashboard` and `perps-bot web`: the two dashboards' commands (imported only when invoked).

Both resolve a profile to its files the way the bot writes them (`Paths.for_profile`); `web` imports the
aiohttp app only inside its own command, so `dashboard` never loads aiohttp."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gpt_trader.features.dashboard.source import Paths

ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="Profile name (dev, canary, ...) or YAML file")]
DataRootOpt = Annotated[
    Path | None, typer.Option("--data-root", help="The bot's data root (default: the profile's, var/data)")
]
WindowOpt = Annotated[int, typer.Option("--window-min", min=1, max=10080, help="Minutes of equity/PnL history shown")]


def _paths(profile: str, data_root: Path | None, reports: Path | None = None) -> Paths:
    from gpt_trader.features.dashboard.source import Paths, SourceError

    try:
        return Paths.for_profile(profile, data_root=data_root, reports_root=reports)
    except SourceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def dashboard_command(
    profile: ProfileOpt = "dev",
    refresh: Annotated[float, typer.Option("--refresh", min=0.2, max=3600, help="Seconds between redraws")] = 5.0,
    window_min: WindowOpt = 5,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit (scripts, tests)")] = False,
    data_root: DataRootOpt = None,
    width: Annotated[int | None, typer.Option("--width", min=60, help="Columns (default: the terminal's)")] = None,
) -> None:
    """Terminal dashboard of a bot's stores and metrics (works while it runs and after it stops)."""
    from rich.console import Console

    from gpt_trader.features.dashboard.source import DashboardSource
    from gpt_trader.features.dashboard.terminal import run_terminal

    source = DashboardSource(_paths(profile, data_root))
    code = run_terminal(source, refresh_s=refresh, window_min=window_min, once=once, console=Console(width=width))
    raise typer.Exit(code)


def web_command(
    profile: ProfileOpt = "dev",
    host: Annotated[str, typer.Option("--host", help="Address to bind (default loopback only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0 = any free one)")] = 8765,
    refresh: Annotated[float, typer.Option("--refresh", min=0.2, max=3600, help="Seconds between page updates")] = 5.0,
    window_min: WindowOpt = 60,
    data_root: DataRootOpt = None,
    reports: Annotated[
        Path | None, typer.Option("--reports", help="Folder searched for backtest reports (default: var/)")
    ] = None,
) -> None:
    """Read-only web dashboard (own process; token required). Prints the URL it listens on."""
    from gpt_trader.features.dashboard.auth import TOKEN_FILE, TokenError, load_or_create_token
    from gpt_trader.features.dashboard.source import DashboardSource
    from gpt_trader.features.dashboard.web import create_app, serve

    paths = _paths(profile, data_root, reports)
    try:
        token, origin = load_or_create_token(paths.metrics.parent / TOKEN_FILE)
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: binding {host}: the dashboard is reachable beyond this machine", err=True)
    app = create_app(DashboardSource(paths), token=token, refresh_s=refresh, window_min=window_min)
    typer.echo(f"token: {origin}", err=True)

    def announce(url: str) -> None:
        typer.echo(f"web dashboard listening on {url} (profile {paths.profile}, store {paths.store})")

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(app, host, port, announce))
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port} ({exc.strerror or exc})", err=True)
        raise typer.Exit(1) from None
