"""perps-bot: the command line.

`perps-bot --profile dev --dev-fast` (or `perps-bot run ...`) runs the bot. Research and tooling
commands live in their slices and are imported only when invoked, so the live process stays lean.
Exit codes: 0 ok, 1 venue error at start, 2 bad configuration, 3 stopped by a risk halt,
4 start-up reconciliation refused (see `perps-bot reconcile`). Each `GptTraderError` carries its code;
`exit_codes()` is the one place that turns an error into one.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from gpt_trader.errors import GptTraderError, RiskHaltError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    invoke_without_command=True,
    pretty_exceptions_show_locals=False,  # a crash must never print locals (credentials)
    help="GPT-Trader: automated trading for Coinbase Advanced Trade (spot live, perps gated).",
)

DEV_FAST_CYCLES = 150
DEV_FAST_INTERVAL_S = 0.02

ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="dev | canary | prod | demo, or a YAML file")]
DevFastOpt = Annotated[bool, typer.Option("--dev-fast", help="Short bounded session, accelerated mock market")]
CyclesOpt = Annotated[int | None, typer.Option("--cycles", help="Stop after N cycles")]
IntervalOpt = Annotated[float | None, typer.Option("--interval", help="Seconds between cycles")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Run every decision and check, send nothing")]
SymbolsOpt = Annotated[str | None, typer.Option("--symbols", help="Comma-separated universe override")]
ReduceOnlyOpt = Annotated[bool, typer.Option("--reduce-only", help="Only orders that shrink positions")]
ClearReduceOpt = Annotated[
    bool,
    typer.Option(
        "--clear-reduce-only",
        help="Release a latched reduce-only / halt (a guard still over its limit trips again at once)",
    ),
]
RebaseDailyLossOpt = Annotated[
    bool,
    typer.Option(
        "--rebase-daily-loss",
        help="Operator action: today's loss budget restarts from the current equity (journaled; published to alerts)",
    ),
]
RebaseDrawdownOpt = Annotated[
    bool,
    typer.Option(
        "--rebase-drawdown",
        help="Operator action: the drawdown peak starts again from the current equity (journaled; published to alerts)",
    ),
]
LogLevelOpt = Annotated[str | None, typer.Option("--log-level", help="DEBUG | INFO | WARNING | ERROR")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show DEBUG logs on the console too")]


@contextmanager
def exit_codes() -> Iterator[None]:
    """The one place an error becomes an exit code: a `GptTraderError` prints its `describe()` line on
    stderr and exits with its `exit_code`; anything else is a bug and propagates (traceback, no locals)."""
    try:
        yield
    except GptTraderError as exc:
        typer.echo(exc.describe(), err=True)
        raise typer.Exit(code=exc.exit_code) from None


def run_bot(
    profile: str = "dev",
    *,
    dev_fast: bool = False,
    cycles: int | None = None,
    interval: float | None = None,
    dry_run: bool = False,
    symbols: str | None = None,
    reduce_only: bool = False,
    clear_reduce_only: bool = False,
    rebase_daily_loss: bool = False,
    rebase_drawdown: bool = False,
    log_level: str | None = None,
    verbose: bool = False,
) -> None:
    """Run one session; returns normally on a clean end, raises a `GptTraderError` otherwise."""
    from gpt_trader.features.monitor.logging_setup import configure_logging
    from gpt_trader.orchestration.configuration import ConfigManager

    overrides: dict[str, Any] = {
        "dry_run": dry_run or None,
        "dev_fast": dev_fast or None,
        "cycles": cycles,
        "cycle_interval_s": interval,
        "log_level": log_level.upper() if log_level else None,
        "risk.reduce_only_mode": True if reduce_only else None,
    }
    if symbols is not None:
        overrides["symbols"] = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    if dev_fast:
        overrides["cycles"] = cycles or DEV_FAST_CYCLES
        overrides["cycle_interval_s"] = interval if interval is not None else DEV_FAST_INTERVAL_S
    manager = ConfigManager()
    config = manager.load(profile, overrides)
    credentials = manager.credentials()
    from gpt_trader.orchestration.service_registry import build_registry

    registry = build_registry(config, credentials, alert_secrets=manager.alert_secrets())
    configure_logging(
        level=config.log_level,
        log_file=Path(config.log_dir) / config.profile / "bot.jsonl",
        console_level="DEBUG" if verbose else ("INFO" if config.log_level == "DEBUG" else config.log_level),
    )

    from gpt_trader.orchestration.banner import print_banner
    from gpt_trader.orchestration.perps_bot import PerpsBot

    # operator actions, in this order: a re-base first, so a cleared guard is judged on the new budget
    if rebase_daily_loss:
        registry.risk.rebase_daily_loss()
    if rebase_drawdown:
        registry.risk.rebase_drawdown()
    if clear_reduce_only:
        registry.risk.clear_reduce_only()
    print_banner(registry)
    bot = PerpsBot(registry)

    async def _main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, bot.request_stop)
        await bot.run(cycles=config.cycles, interval_s=config.cycle_interval_s, freeze_gc=True)

    asyncio.run(_main())
    from gpt_trader.orchestration.summary import print_summary  # rich, once trading is over

    print_summary(bot)
    if bot.halted:
        raise RiskHaltError(bot.halt_reason or "trading halted")


@app.callback()
def main_callback(
    ctx: typer.Context,
    profile: ProfileOpt = "dev",
    dev_fast: DevFastOpt = False,
    cycles: CyclesOpt = None,
    interval: IntervalOpt = None,
    dry_run: DryRunOpt = False,
    symbols: SymbolsOpt = None,
    reduce_only: ReduceOnlyOpt = False,
    clear_reduce_only: ClearReduceOpt = False,
    rebase_daily_loss: RebaseDailyLossOpt = False,
    rebase_drawdown: RebaseDrawdownOpt = False,
    log_level: LogLevelOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Without a command: run the bot (same options as `perps-bot run`)."""
    if ctx.invoked_subcommand is not None:
        return
    run_command(**ctx.params)


@app.command("run")
def run_command(
    profile: ProfileOpt = "dev",
    dev_fast: DevFastOpt = False,
    cycles: CyclesOpt = None,
    interval: IntervalOpt = None,
    dry_run: DryRunOpt = False,
    symbols: SymbolsOpt = None,
    reduce_only: ReduceOnlyOpt = False,
    clear_reduce_only: ClearReduceOpt = False,
    rebase_daily_loss: RebaseDailyLossOpt = False,
    rebase_drawdown: RebaseDrawdownOpt = False,
    log_level: LogLevelOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Run the trading bot on a profile."""
    with exit_codes():
        run_bot(
            profile,
            dev_fast=dev_fast,
            cycles=cycles,
            interval=interval,
            dry_run=dry_run,
            symbols=symbols,
            reduce_only=reduce_only,
            clear_reduce_only=clear_reduce_only,
            rebase_daily_loss=rebase_daily_loss,
            rebase_drawdown=rebase_drawdown,
            log_level=log_level,
            verbose=verbose,
        )


@app.command("config-check")
def config_check(profile: ProfileOpt = "dev") -> None:
    """Validate a profile (with env overrides) and print it, secrets excluded."""
    import json

    from gpt_trader.orchestration.banner import caps_lines
    from gpt_trader.orchestration.configuration import ConfigManager

    with exit_codes():
        config = ConfigManager().load(profile)
    typer.echo(json.dumps(config.redacted(), indent=2, default=str))
    for name, value in caps_lines(config):  # on stderr: stdout stays one JSON document
        typer.echo(f"{name}: {value}", err=True)


# ---------------------------------------------------------------------------------------------
# Tooling and research commands live in their slices. They are imported only when invoked (the
# simulator pulls in aiohttp, the backtester numba/pandas), so `perps-bot` itself stays lean.
_FORWARD = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _forward(ctx: typer.Context, module: str, attr: str, name: str) -> None:
    import importlib

    target = getattr(importlib.import_module(module), attr)
    if isinstance(target, typer.Typer):
        sub = target
    else:
        sub = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
        sub.command(name=name)(target)
    with exit_codes():  # a GptTraderError a sub-command does not map itself still gets its exit code
        sub(args=list(ctx.args), prog_name=f"perps-bot {name}")


@app.command("exchange-sim", context_settings=_FORWARD, add_help_option=False)
def exchange_sim(ctx: typer.Context) -> None:
    """Coinbase-compatible exchange simulator on 127.0.0.1 (REST v3 + WebSocket). --help for options."""
    _forward(ctx, "gpt_trader.exchange_sim.cli", "exchange_sim_command", "exchange-sim")


@app.command("backtest", context_settings=_FORWARD, add_help_option=False)
def backtest(ctx: typer.Context) -> None:
    """Backtest a strategy with the fast or the replay engine. --help for options."""
    _forward(ctx, "gpt_trader.features.backtest.cli", "backtest_command", "backtest")


@app.command("optimize", context_settings=_FORWARD, add_help_option=False)
def optimize(ctx: typer.Context) -> None:
    """Search a strategy's parameters (optuna; local pool or Ray), walk-forward, overfitting. --help."""
    _forward(ctx, "gpt_trader.features.optimize.cli", "optimize_command", "optimize")


@app.command("analyze", context_settings=_FORWARD, add_help_option=False)
def analyze(ctx: typer.Context) -> None:
    """Returns, volatility, correlations, regimes, funding, drawdowns across symbols. --help for options."""
    _forward(ctx, "gpt_trader.features.analyze.cli", "analyze_command", "analyze")


@app.command("regime", context_settings=_FORWARD, add_help_option=False)
def regime(ctx: typer.Context) -> None:
    """Market regime timeline and statistics per regime (rules or HMM). --help for options."""
    _forward(ctx, "gpt_trader.features.market_regime.cli", "regime_command", "regime")


@app.command("ml", context_settings=_FORWARD, add_help_option=False)
def ml(ctx: typer.Context) -> None:
    """Direction model: train, predict, evaluate (walk-forward), show. --help for commands."""
    _forward(ctx, "gpt_trader.features.ml_strategy.cli", "ml_app", "ml")


@app.command("portfolio", context_settings=_FORWARD, add_help_option=False)
def portfolio(ctx: typer.Context) -> None:
    """Tier-based multi-symbol backtest with one cash balance (fast or replay). --help for options."""
    _forward(ctx, "gpt_trader.features.adaptive_portfolio.cli", "portfolio_command", "portfolio")


@app.command("data", context_settings=_FORWARD, add_help_option=False)
def data(ctx: typer.Context) -> None:
    """Market data store: import, download, synth, gaps. --help for commands."""
    _forward(ctx, "gpt_trader.features.data.cli", "data_app", "data")


@app.command("account")
def account(
    profile: ProfileOpt = "dev",
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object; Decimals as strings")] = False,
) -> None:
    """What the profile's broker reports: balances, positions, open orders, last fills, fee tier."""
    from gpt_trader.features.brokerages.coinbase.cli import account_command
    from gpt_trader.orchestration.configuration import ConfigManager
    from gpt_trader.orchestration.service_registry import build_broker

    manager = ConfigManager()
    notices: list[str] = []
    with exit_codes():
        config = manager.load(profile)
        broker = build_broker(config, manager.credentials(), notices)
    for notice in notices:
        typer.echo(f"notice: {notice}", err=True)
    raise typer.Exit(account_command(profile, json_output, broker=broker))


@app.command("replay", context_settings=_FORWARD, add_help_option=False)
def replay(ctx: typer.Context) -> None:
    """Re-run a recorded session's decisions and report any that differ (determinism check)."""
    _forward(ctx, "gpt_trader.orchestration.replay_cli", "replay_command", "replay")


@app.command("reconcile", context_settings=_FORWARD, add_help_option=False)
def reconcile(ctx: typer.Context) -> None:
    """Compare the store with the exchange; --accept-exchange adopts the exchange's view."""
    _forward(ctx, "gpt_trader.orchestration.reconcile_cli", "reconcile_command", "reconcile")


@app.command("preflight", context_settings=_FORWARD, add_help_option=False)
def preflight(ctx: typer.Context) -> None:
    """Pre-start checks (keys, permissions, clock, symbols, balances, limits, store, disk). --help."""
    _forward(ctx, "gpt_trader.orchestration.preflight_cli", "preflight_command", "preflight")


@app.command("verify", context_settings=_FORWARD, add_help_option=False)
def verify(ctx: typer.Context) -> None:
    """Run named groups of the project's own test suite and print a summary. --help for groups."""
    _forward(ctx, "gpt_trader.orchestration.verify_cli", "verify_command", "verify")


@app.command("dashboard", context_settings=_FORWARD, add_help_option=False)
def dashboard(ctx: typer.Context) -> None:
    """Terminal dashboard of a bot's stores and metrics (--once prints one frame). --help for options."""
    _forward(ctx, "gpt_trader.features.dashboard.cli", "dashboard_command", "dashboard")


@app.command("web", context_settings=_FORWARD, add_help_option=False)
def web(ctx: typer.Context) -> None:
    """Read-only web dashboard in its own process (token required). --help for options."""
    _forward(ctx, "gpt_trader.features.dashboard.cli", "web_command", "web")


def main() -> None:
    app(prog_name="perps-bot")


if __name__ == "__main__":
    main()
