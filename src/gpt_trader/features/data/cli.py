"""`perps-bot data ...`: import, download, synth and gaps for the Parquet candle store.

Only typer and the standard library load at import; pandas/pyarrow/httpx load inside each command.
Register with `app.add_typer(data_app, name="data")`.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

data_app = typer.Typer(
    help="Market data: import files, download Coinbase candles, synthesize, report gaps.",
    no_args_is_help=True,
    add_completion=False,
)

RootOpt = Annotated[Path | None, typer.Option("--store-root", help="Candle store root (default var/data/market)")]


def _store(root: Path | None):  # type: ignore[no-untyped-def]
    from gpt_trader.features.data.store import DEFAULT_ROOT, CandleStore

    return CandleStore(root or DEFAULT_ROOT)


def _time(value: str, name: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{name} must be ISO 8601 (e.g. 2024-01-01T00:00Z), got {value!r}") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _fail(message: str) -> None:
    typer.echo(f"data error: {message}", err=True)
    raise typer.Exit(code=2)


@data_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV, CSV.gz or Parquet candle file")],
    symbol: Annotated[str, typer.Option("--symbol", help="Symbol to store it under, e.g. BTC-USD")],
    granularity: Annotated[str, typer.Option("--granularity", help="1m, 5m, 1h ...")],
    source: Annotated[str, typer.Option("--source", help="Source folder in the store")] = "import",
    store_root: RootOpt = None,
) -> None:
    """Import a candle file; the time column may be timestamp/date/datetime/time/open_time."""
    from gpt_trader.features.data import granularity as gran
    from gpt_trader.features.data.gaps import find_gaps
    from gpt_trader.features.data.importer import CandleFileError, load_candle_file

    try:
        df = load_candle_file(file, symbol=symbol, granularity=granularity)
        g = gran.normalize(granularity)
        store = _store(store_root)
        total = store.write(source, symbol, g, df)
    except (CandleFileError, ValueError) as exc:
        _fail(str(exc))
        return
    report = find_gaps(df.index, gran.seconds(g))
    typer.echo(
        f"imported {len(df)} bars {df.index[0].isoformat()} .. {df.index[-1].isoformat()} into "
        f"{store.path(source, symbol, g)} ({total} stored; "
        f"{report.missing_bars} missing bars in {len(report.gaps)} gaps)"
    )


@data_app.command("download")
def download_command(
    symbol: Annotated[str, typer.Option("--symbol", help="Coinbase product id, e.g. BTC-USD")],
    granularity: Annotated[str, typer.Option("--granularity", help="1m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 1d")],
    start: Annotated[str, typer.Option("--start", help="ISO 8601 UTC")],
    end: Annotated[str, typer.Option("--end", help="ISO 8601 UTC (exclusive)")],
    source: Annotated[str, typer.Option("--source", help="Source folder in the store")] = "coinbase",
    base_url: Annotated[str, typer.Option("--base-url", help="API host")] = "https://api.coinbase.com",
    rate: Annotated[float, typer.Option("--rate", help="Requests per second (public limit is 10)")] = 8.0,
    no_resume: Annotated[bool, typer.Option("--no-resume", help="Refetch even what is stored")] = False,
    store_root: RootOpt = None,
) -> None:
    """Download candles (350 per request, paced, retried, resumable) with a progress bar."""
    from rich.progress import Progress

    from gpt_trader.features.data.download import DownloadError, download_candles

    start_dt, end_dt = _time(start, "--start"), _time(end, "--end")
    store = _store(store_root)
    with Progress(transient=True) as progress:
        task = progress.add_task(f"{symbol} {granularity}", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            stats = asyncio.run(
                download_candles(
                    store,
                    symbol,
                    granularity,
                    start_dt,
                    end_dt,
                    source=source,
                    base_url=base_url,
                    rate_per_s=rate,
                    resume=not no_resume,
                    on_progress=on_progress,
                )
            )
        except (DownloadError, ValueError) as exc:
            _fail(str(exc))
            return
    resumed = f", resumed from {stats.resumed_from.isoformat()}" if stats.resumed_from else ""
    typer.echo(
        f"downloaded {stats.candles} candles in {stats.requests} requests ({stats.retries} retries, "
        f"{stats.skipped_rows} malformed rows skipped{resumed})"
    )


@data_app.command("synth")
def synth_command(
    symbol: Annotated[str, typer.Option("--symbol", help="Symbol, e.g. BTC-USD")] = "BTC-USD",
    granularity: Annotated[str, typer.Option("--granularity", help="1m, 5m, 1h ...")] = "1m",
    bars: Annotated[int, typer.Option("--bars", help="Number of candles")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same market")] = 42,
    end: Annotated[str | None, typer.Option("--end", help="Last bar ends here (ISO 8601 UTC)")] = None,
    source: Annotated[str, typer.Option("--source", help="Source folder in the store")] = "synthetic",
    store_root: RootOpt = None,
) -> None:
    """Seeded synthetic candles from the mock broker's market generator."""
    from gpt_trader.features.data import granularity as gran
    from gpt_trader.features.data.synth import synth_candles

    try:
        df = synth_candles(symbol, granularity, bars, seed=seed, end=_time(end, "--end") if end else None)
        store = _store(store_root)
        store.write(source, symbol, gran.normalize(granularity), df)
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo(f"synthesized {len(df)} bars (seed {seed}) into {store.path(source, symbol, granularity)}")


@data_app.command("gaps")
def gaps_command(
    symbol: Annotated[str, typer.Option("--symbol", help="Stored symbol")],
    granularity: Annotated[str, typer.Option("--granularity", help="1m, 5m, 1h ...")],
    source: Annotated[str | None, typer.Option("--source", help="Store source (if several)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    limit: Annotated[int, typer.Option("--limit", help="Gaps to list on the console")] = 20,
    store_root: RootOpt = None,
) -> None:
    """Report missing bars in a stored series."""
    from gpt_trader.features.data import granularity as gran
    from gpt_trader.features.data.gaps import find_gaps

    store = _store(store_root)
    try:
        g = gran.normalize(granularity)
        sources = [source] if source else store.find_sources(symbol, g)
        if len(sources) != 1:
            _fail(f"{'no' if not sources else 'several'} stored series for {symbol} {g}: {sources}; pass --source")
            return
        df = store.read(sources[0], symbol, g)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
        return
    report = find_gaps(df.index, gran.seconds(g))
    if as_json:
        typer.echo(json.dumps({"source": sources[0], "symbol": symbol, "granularity": g, **report.to_dict()}))
        return
    typer.echo(
        f"{sources[0]}/{symbol}/{g}: {report.bars} bars, {report.missing_bars} missing of "
        f"{report.expected_bars} expected, {len(report.gaps)} gaps"
    )
    for gap in report.gaps[:limit]:
        typer.echo(f"  after {gap.after.isoformat()} before {gap.before.isoformat()}: {gap.missing_bars} missing")
