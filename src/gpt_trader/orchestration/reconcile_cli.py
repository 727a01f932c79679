"""`perps-bot reconcile --profile P [--accept-exchange]`: compare the bot's store with the exchange.

Without `--accept-exchange` it reports (exit 0 when everything agrees, 1 when positions differ) and
changes only what the exchange proves (order states, missed fills); intents the exchange never saw are
left for the live bot. With it, each position difference becomes an explicit, journaled adjustment so
the next start agrees with the exchange. Exit 2: bad configuration.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from gpt_trader.orchestration.reconciliation import ReconcileSettings, ReconciliationReport
    from gpt_trader.orchestration.service_registry import ServiceRegistry

ProfileOpt = Annotated[str, typer.Option("--profile", "-p", help="dev | canary | prod | demo, or a YAML file")]
AcceptOpt = Annotated[
    bool, typer.Option("--accept-exchange", help="Adopt the exchange's positions as explicit adjustments")
]
UnknownOpt = Annotated[
    str | None, typer.Option("--unknown-orders", help="adopt | flag: exchange orders the store never saw")
]


def reconcile_command(
    profile: ProfileOpt = "canary", accept_exchange: AcceptOpt = False, unknown_orders: UnknownOpt = None
) -> None:
    """Reconcile the bot's store with the exchange; --accept-exchange adopts the exchange's view."""
    import msgspec

    from gpt_trader.orchestration.configuration import ConfigError, ConfigManager
    from gpt_trader.orchestration.service_registry import build_registry

    manager = ConfigManager()
    try:
        config = manager.load(profile)
        settings = config.reconciliation
        if unknown_orders is not None:
            settings = msgspec.structs.replace(settings, unknown_orders=unknown_orders)
            settings.__post_init__()
        if config.broker == "mock":
            raise ConfigError(
                f"profile {profile!r} trades the in-memory mock venue, which does not outlive the bot: "
                "there is nothing to reconcile against (use a coinbase or paper profile)"
            )
        registry = build_registry(config, manager.credentials(), fresh_store=False, arm_triggers=False)
    except (ConfigError, ValueError) as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    raise typer.Exit(code=asyncio.run(run_reconcile(registry, settings, accept_exchange=accept_exchange)))


async def run_reconcile(registry: ServiceRegistry, settings: ReconcileSettings, *, accept_exchange: bool) -> int:
    """The command's body (tests call it with their own registry); returns the exit code."""
    from gpt_trader.orchestration.reconciliation import ReconciliationRefusedError

    try:
        report = await reconcile_once(registry, settings, accept_exchange=accept_exchange)
    except ReconciliationRefusedError as exc:
        _print(exc.report)
        typer.echo(str(exc), err=True)
        return 1
    _print(report)
    typer.echo("store and exchange agree" + (" (exchange view adopted)" if accept_exchange else ""))
    return 0


async def reconcile_once(
    registry: ServiceRegistry, settings: ReconcileSettings, *, accept_exchange: bool
) -> ReconciliationReport:
    """Connect, reconcile the registry's store with the exchange, disconnect. Intents the exchange never
    saw are left pending, nothing is resent. Raises ReconciliationRefusedError when positions differ
    (and `accept_exchange` is off). `perps-bot preflight` runs it on a copy of the store (a dry run)."""
    from gpt_trader.orchestration.cash_flows import CashFlowDetector
    from gpt_trader.orchestration.live_execution import LiveExecutionEngine
    from gpt_trader.orchestration.positions import PositionBook
    from gpt_trader.orchestration.reconciliation import Reconciler

    broker = registry.broker
    await broker.connect()
    try:
        products = {p.symbol: p for p in await broker.list_products() if p.symbol in registry.config.symbols}
        # Fills found here moved the quote cash: account them, or the bot's next balance read would take
        # them for a withdrawal or deposit.
        cash_flows = CashFlowDetector(state=registry.state, metrics=registry.metrics)
        if products:
            cash_flows.bind(products)
        engine = LiveExecutionEngine(
            broker,
            registry.orders,
            registry.events,
            registry.metrics,
            PositionBook(),
            bot_id=registry.config.bot_id,
            on_fill=cash_flows.record_fill,
            atomic=registry.store_transaction,
        )
        reconciler = Reconciler(
            engine, products, state=registry.state, settings=settings, profile=registry.config.profile
        )
        report = await reconciler.startup(
            accept_exchange=accept_exchange, resend=False, leave_unsent=not accept_exchange
        )
        engine.release_trade_results()  # no risk manager here: nothing to report them to
        return report
    finally:
        await broker.close()


def _print(report: ReconciliationReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Reconciliation corrections")
    for col in ("kind", "symbol", "client_order_id", "detail"):
        table.add_column(col)
    for c in report.corrections:
        table.add_row(c.kind, c.symbol or "", c.client_order_id or "", c.detail)
    Console().print(table)
    for diff in report.mismatches:
        typer.echo(f"DIFFERS {diff.describe()}")
