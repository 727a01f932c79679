"""`perps-bot replay --session ID --profile P`: the determinism check of a recorded session.

Exit 0 when every recorded decision replays identically, 1 when any differs (each one is printed),
2 when the session cannot be replayed (unknown session, no market data).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gpt_trader.orchestration.configuration import BotConfig
    from gpt_trader.orchestration.replay import ReplayReport

SessionOpt = Annotated[str, typer.Option("--session", help="Session id (see the EventStore / bot logs)")]
ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="Profile whose store holds the session")]
DataSourceOpt = Annotated[
    str | None,
    typer.Option("--data-source", help="Parquet market data source name (default: the mock venue re-created)"),
]
DataRootOpt = Annotated[Path, typer.Option("--data-root", help="Parquet market data root")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON")]


def replay_command(
    session: SessionOpt,
    profile: ProfileOpt = "dev",
    data_source: DataSourceOpt = None,
    data_root: DataRootOpt = Path("var/data/market"),
    json_out: JsonOpt = False,
) -> None:
    """Re-run a recorded session's decisions against recorded market data; report any that differ."""
    import msgspec

    from gpt_trader.features.brokerages.core.interfaces import BrokerageError
    from gpt_trader.orchestration.configuration import ConfigError, ConfigManager
    from gpt_trader.orchestration.replay import ReplayError, run_replay

    try:
        config = ConfigManager().load(profile)
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    db = config.store_dir / "bot.sqlite3"
    if not db.exists():
        typer.echo(f"no store for profile {profile!r} at {db}", err=True)
        raise typer.Exit(code=2)
    try:
        if data_source == "venue":
            report = asyncio.run(_replay_on_venue(config, db, session))
        else:
            report = asyncio.run(run_replay(db, session, parquet_root=data_root, parquet_source=data_source))
    except (ReplayError, FileNotFoundError, ConfigError, BrokerageError) as exc:
        typer.echo(f"cannot replay: {exc}", err=True)
        raise typer.Exit(code=2) from None
    if json_out:
        typer.echo(json.dumps(msgspec.to_builtins(report), indent=2))
    else:
        for d in report.differences:
            typer.echo(
                f"DIFFERS {d.symbol} bar {d.bar} [{d.kind}]: recorded {d.recorded}, replayed {d.replayed}"
                + (f" ({d.detail})" if d.detail else "")
            )
        verdict = "deterministic" if report.deterministic else f"{len(report.differences)} difference(s)"
        typer.echo(
            f"session {session}: {report.checked} recorded decision(s) replayed with {report.strategy}: {verdict}"
        )
    raise typer.Exit(code=0 if report.deterministic else 1)


async def _replay_on_venue(config: BotConfig, db: Path, session: str) -> ReplayReport:
    """Candles from the profile's own venue (its credentials from the environment, read-only calls)."""
    from gpt_trader.orchestration.configuration import ConfigManager
    from gpt_trader.orchestration.replay import run_replay
    from gpt_trader.orchestration.service_registry import build_broker

    broker = build_broker(config, ConfigManager().credentials(), [])
    await broker.connect()
    try:
        return await run_replay(db, session, venue=broker)
    finally:
        await broker.close()
