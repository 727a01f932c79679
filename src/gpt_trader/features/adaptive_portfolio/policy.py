"""The per-bar portfolio rules both engines share: which exits and entries to send, and how big."""

from __future__ import annotations

import math
from collections.abc import Sequence

from gpt_trader.features.backtest.fast.engine import Scales
from gpt_trader.features.brokerages.core.interfaces import Product
from gpt_trader.features.live_trade.tiers import Tier


def plan_bar(
    held: Sequence[bool],
    exit_signal: Sequence[bool],
    entry_signal: Sequence[bool],
    perpetual: Sequence[bool],
    tier: Tier,
    counters: dict[str, int],
) -> tuple[list[int], list[int]]:
    """(symbols to exit, symbols to enter), in universe order. Exits free their slots for this bar's
    entries; an entry needs a free slot under the tier's `max_positions` and a product it allows."""
    exits = [i for i, h in enumerate(held) if h and exit_signal[i]]
    open_after = sum(1 for h in held if h) - len(exits)
    entries: list[int] = []
    for i, h in enumerate(held):
        if h or not entry_signal[i]:
            continue
        if perpetual[i] and not tier.allow_perps:
            counters["entry_blocked_product"] = counters.get("entry_blocked_product", 0) + 1
            continue
        if open_after + len(entries) >= tier.max_positions:
            counters["entry_blocked_slots"] = counters.get("entry_blocked_slots", 0) + 1
            continue
        entries.append(i)
    return exits, entries


def entry_qty_ticks(cash: float, budget: float, px_ticks: int, scales: Scales, fee_rate: float) -> int:
    """Size in base ticks: min(cash, budget) / (price x (1 + fee)), floored (the kernel's arithmetic)."""
    px = px_ticks / scales.price_scale
    q = min(cash, budget) / (px * (1.0 + fee_rate))
    return max(0, math.floor(q * scales.qty_scale))


def below_minimum(q_ticks: int, px_ticks: int, product: Product, scales: Scales) -> bool:
    """Too small for the venue: no size, under the base minimum or under the quote minimum."""
    min_ticks = int(product.base_min_size * scales.qty_scale)
    notional = (q_ticks / scales.qty_scale) * (px_ticks / scales.price_scale)
    return q_ticks <= 0 or q_ticks < min_ticks or notional < float(product.quote_min_size)


def refuse_perpetuals(products: Sequence[Product]) -> None:
    perps = [p.symbol for p in products if p.is_perpetual]
    if perps:
        raise NotImplementedError(
            f"{perps}: perpetuals (margin, funding, shorts) in the portfolio backtest are not built yet; spot only"
        )
