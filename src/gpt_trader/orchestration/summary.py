"""Console output for humans: the end-of-session summary table (the start-up banner is `banner.py`).

Each symbol's fees and PnL are shown in its quote currency (USDC for INTX perps, USD for spot); the TOTAL
row adds them up in USD through `interfaces.to_usd` (USDC 1:1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from gpt_trader.features.brokerages.core.interfaces import ZERO, Fill, Liquidity, to_usd
from gpt_trader.orchestration.banner import caps_lines, exits_line, print_banner

# banner names kept for old importers
__all__ = ["caps_lines", "console", "exits_line", "fees_line", "print_banner", "print_summary"]

if TYPE_CHECKING:
    from gpt_trader.orchestration.perps_bot import PerpsBot

console = Console(stderr=False, highlight=False)


def _money(v: Decimal) -> str:
    return f"{v.quantize(Decimal('0.01')):,}"


def fees_line(fills: Sequence[Fill], quote_assets: Mapping[str, str]) -> str:
    """Fees split by liquidity (maker: resting limits; taker: market and crossing orders), in USD."""
    totals = {Liquidity.MAKER: ZERO, Liquidity.TAKER: ZERO}
    counts = {Liquidity.MAKER: 0, Liquidity.TAKER: 0}
    for f in fills:
        side = Liquidity.MAKER if f.liquidity is Liquidity.MAKER else Liquidity.TAKER
        totals[side] += to_usd(f.fee, quote_assets.get(f.symbol, "USD"))
        counts[side] += 1
    maker, taker = Liquidity.MAKER, Liquidity.TAKER
    return (
        f"Fees: maker {_money(totals[maker])} ({counts[maker]} fills), "
        f"taker {_money(totals[taker])} ({counts[taker]} fills)"
    )


def print_summary(bot: PerpsBot) -> None:
    table = Table(
        title=f"Session {bot.registry.session_id} — {bot.cycle} cycles on {bot.broker.name}", title_justify="left"
    )
    for col in ("symbol", "orders", "fills", "ccy", "fees", "realized PnL", "unrealized", "position"):
        table.add_column(col, justify="left" if col in ("symbol", "ccy") else "right")
    orders_by_symbol: dict[str, int] = {}
    for stored in bot.registry.orders.list_orders(session_id=bot.registry.session_id):
        orders_by_symbol[stored.symbol] = orders_by_symbol.get(stored.symbol, 0) + 1
    n_total = fills_total = 0
    fees_total = pnl_total = upnl_total = ZERO
    for sym in bot.symbols:
        led = bot.positions.ledgers.get(sym)
        quote = bot.quotes.get(sym)
        mark = quote.mark_price if quote else ZERO
        fills = led.fills if led else 0
        fees = led.fees if led else ZERO
        pnl = led.realized_pnl if led else ZERO
        upnl = led.unrealized(mark) if led else ZERO
        size = led.size if led else ZERO
        n_orders = orders_by_symbol.get(sym, 0)
        product = bot.products.get(sym)
        ccy = product.quote_asset if product is not None else "USD"
        n_total += n_orders
        fills_total += fills
        fees_total += to_usd(fees, ccy)
        pnl_total += to_usd(pnl, ccy)
        upnl_total += to_usd(upnl, ccy)
        table.add_row(
            sym, str(n_orders), str(fills), ccy, _money(fees), _money(pnl), _money(upnl), f"{size.normalize()}"
        )
    table.add_row(
        "TOTAL",
        str(n_total),
        str(fills_total),
        "USD",
        _money(fees_total),
        _money(pnl_total),
        _money(upnl_total),
        "",
        style="bold",
    )
    console.print(table)
    console.print(fees_line(bot.execution.fills, {s: p.quote_asset for s, p in bot.products.items()}))
    placed = bot.protection.summary()
    if any(placed.values()):
        console.print("Protection: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in placed.items()))
    if bot.tiers is not None:
        moves = "; ".join(f"{c.previous} -> {c.tier} at {c.equity:,.2f}" for c in bot.tier_changes) or "no change"
        console.print(f"Tier: {bot.tiers.tier.name} (max {bot.tiers.tier.max_positions} positions); {moves}")
    if bot.regimes.current:
        console.print("Regime: " + ", ".join(f"{s} {r.value}" for s, r in sorted(bot.regimes.current.items())))
    if bot.guard_events or bot.risk_rejections:
        events = Table(title="Guard events and risk refusals", title_justify="left")
        for col in ("cycle", "guard / rule", "action", "detail"):
            events.add_column(col)
        for ev in bot.guard_events[-20:]:
            events.add_row(str(ev.cycle), ev.name, ev.action, ev.detail)
        for rej in bot.risk_rejections[-20:]:
            events.add_row("", str(rej["rule"]), "order refused", f"{rej['symbol']}: {rej['reason']}")
        console.print(events)
    else:
        console.print("Guard events: none")
    if bot.transfers:
        flows = Table(title="External transfers (guard baselines moved; not trading PnL)", title_justify="left")
        for col in ("at", "kind", "amount", "balance after"):
            flows.add_column(col, justify="right" if col in ("amount", "balance after") else "left")
        for t in bot.transfers:
            flows.add_row(t.at.isoformat(), t.kind, f"{_money(t.amount)} {t.asset}", f"{_money(t.balance)} {t.asset}")
        console.print(flows)
    start, end = bot.start_equity, bot.last_equity
    if start is not None and end is not None:
        line = f"Equity: {_money(start)} -> {_money(end)} ({_money(end - start)})"
        moved = bot.transfers_in_session
        if moved:
            line += f"; external transfers {_money(moved)}, trading {_money(end - start - moved)}"
        console.print(line)
    if bot.halted:
        console.print(f"[bold red]HALTED by risk guard: {bot.halt_reason}[/bold red]")
    console.print(
        f"Data: {bot.config.store_dir}  metrics: {bot.config.metrics_dir / 'metrics.json'}  "
        f"health: {bot.config.health_path}  logs: {bot.config.log_dir}/{bot.config.profile}/bot.jsonl"
    )
