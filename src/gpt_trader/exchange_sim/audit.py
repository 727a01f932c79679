"""The money audit behind "fund checks, fees and balances add up": an independent re-computation of
every balance from deposits, fills, fees and funding, compared with what the engine holds.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from gpt_trader.exchange_sim.wire import d
from gpt_trader.features.brokerages.core.interfaces import ZERO, OrderSide

if TYPE_CHECKING:
    from gpt_trader.exchange_sim.venue import SimVenue


def audit_account(venue: SimVenue, account_id: str) -> dict[str, Any]:
    """Recompute every balance from deposits, fills, fees and funding; compare with the engine.

    Spot fills move base and quote; perp fills realize PnL (average-entry, as the ledger) in the
    quote asset. A mismatch means money was created or destroyed somewhere.
    """
    info = venue.account(account_id)
    expected: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for asset, amount in info.deposits.items():
        expected[asset] += amount
    perp: dict[str, tuple[Decimal, Decimal]] = {}
    fees = ZERO
    for f in venue.engine.list_fills(account_id):
        product = venue.product(f.symbol)
        fees += f.fee
        quote = product.quote_asset
        expected[quote] -= f.fee
        if not product.is_perpetual:
            sign = 1 if f.side is OrderSide.BUY else -1
            expected[product.base_asset] += sign * f.size
            expected[quote] -= sign * f.size * f.price
            continue
        size, entry = perp.get(f.symbol, (ZERO, ZERO))
        signed = f.size if f.side is OrderSide.BUY else -f.size
        new = size + signed
        if size == 0 or (size > 0) == (signed > 0):
            entry = (abs(size) * entry + abs(signed) * f.price) / abs(new)
        else:
            closed = min(abs(signed), abs(size))
            direction = 1 if size > 0 else -1
            expected[quote] += ((f.price - entry) * closed * direction).quantize(
                product.quote_increment, rounding=ROUND_HALF_EVEN
            )
            if new != 0 and (new > 0) != (size > 0):
                entry = f.price
            elif new == 0:
                entry = ZERO
        perp[f.symbol] = (new, entry)
    for ev in venue.funding_events:
        if ev.account_id == account_id:
            expected[venue.product(ev.symbol).quote_asset] -= ev.payment
    actual = {b.asset: b for b in venue.engine.balances(account_id)}
    assets = sorted(set(expected) | set(actual))
    rows = {}
    ok = True
    has_perps = any(venue.product(p.symbol).is_perpetual for p in venue.engine.positions(account_id))
    for asset in assets:
        bal = actual.get(asset)
        total = bal.total if bal else ZERO
        # with open perps the collateral's hold also carries initial margin, so only spot-only
        # accounts must satisfy available + hold == total exactly
        hold_ok = bal is None or (bal.hold >= 0 and (has_perps or bal.available + bal.hold == bal.total))
        row_ok = total == expected[asset] and hold_ok
        ok = ok and row_ok
        rows[asset] = {"expected": d(expected[asset]), "actual": d(total), "ok": row_ok}
    positions_ok = all(
        perp.get(p.symbol, (ZERO, ZERO))[0] == p.size
        for p in venue.engine.positions(account_id)
        if venue.product(p.symbol).is_perpetual
    )
    funding = sum((ev.payment for ev in venue.funding_events if ev.account_id == account_id), ZERO)
    return {
        "ok": ok and positions_ok,
        "assets": rows,
        "fees": d(fees),
        "funding_paid": d(funding),
        "positions_ok": positions_ok,
    }
