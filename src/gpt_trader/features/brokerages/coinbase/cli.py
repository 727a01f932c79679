"""`perps-bot account`: what the configured broker reports, parsed into our types.

The orchestrator registers the command and builds the broker for the profile; `account_command` then
prints balances, positions, open orders, the last fills and the fee tier (`--json`: one object with keys
balances, positions, open_orders, fills, fee_tier; Decimals as strings).
"""

from __future__ import annotations

import asyncio
import sys
from typing import IO, Any

import msgspec

from gpt_trader.features.brokerages.core.interfaces import Broker, BrokerageError

LAST_FILLS = 20


async def account_report(broker: Broker, *, last_fills: int = LAST_FILLS) -> dict[str, Any]:
    """Read everything from a connected broker. The fee tier comes from Coinbase's transaction summary."""
    balances = await broker.list_balances()
    positions = await broker.list_positions()
    open_orders = await broker.list_orders(open_only=True)
    fills = (await broker.list_fills())[-last_fills:]
    fee_tier: dict[str, Any] | None = None
    from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker

    if isinstance(broker, CoinbaseBroker) and not broker.public_only:
        from gpt_trader.features.brokerages.coinbase.account import CoinbaseAccountManager

        info, volume, fees = await CoinbaseAccountManager(broker).fee_tier()
        fee_tier = msgspec.to_builtins(info) if info is not None else {}
        fee_tier.update({"total_volume_30d": str(volume), "total_fees_30d": str(fees)})
    report: dict[str, Any] = msgspec.to_builtins(
        {
            "balances": [b for b in balances if b.total != 0],
            "positions": positions,
            "open_orders": open_orders,
            "fills": fills,
        }
    )
    report["fee_tier"] = fee_tier
    return report


def _table(out: IO[str], title: str, rows: list[dict[str, Any]], cols: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*[str(r.get(c, "")) for c in cols])
    if not rows:
        table.add_row(*(["(none)"] + [""] * (len(cols) - 1)))
    Console(file=out, width=140).print(table)


def render(report: dict[str, Any], *, json_output: bool, out: IO[str] | None = None) -> None:
    stream = out or sys.stdout
    if json_output:
        stream.write(msgspec.json.encode(report).decode() + "\n")
        return
    _table(stream, "Balances", report["balances"], ["asset", "total", "available", "hold"])
    _table(
        stream,
        "Positions",
        report["positions"],
        ["symbol", "product_type", "size", "entry_price", "mark_price", "unrealized_pnl", "leverage"],
    )
    _table(
        stream,
        "Open orders",
        report["open_orders"],
        ["order_id", "symbol", "side", "order_type", "size", "limit_price", "status", "filled_size"],
    )
    _table(stream, "Last fills", report["fills"], ["ts", "symbol", "side", "price", "size", "fee", "liquidity"])
    fee = report["fee_tier"]
    if fee:
        _table(stream, "Fee tier", [fee], ["pricing_tier", "maker_fee_rate", "taker_fee_rate", "total_fees_30d"])
    else:
        stream.write("Fee tier: not reported by this broker\n")


async def _run(broker: Broker, json_output: bool, out: IO[str] | None) -> None:
    await broker.connect()
    try:
        render(await account_report(broker), json_output=json_output, out=out)
    finally:
        await broker.close()


def account_command(profile: str | None, json_output: bool, *, broker: Broker, out: IO[str] | None = None) -> int:
    """Entry point for `perps-bot account [--profile P] [--json]`. Returns the process exit code.

    `broker` is the profile's configured broker (built by the orchestrator from the profile and the
    environment, not yet connected).
    """
    try:
        asyncio.run(_run(broker, json_output, out))
    except BrokerageError as exc:
        sys.stderr.write(f"account: {type(exc).__name__}: {exc}\n")
        return 1
    return 0
