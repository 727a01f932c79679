"""`GET /payment_methods` and `/payment_methods/{id}`: the account's linked funding sources.

The simulator moves no money through them (deposits come from the admin API); they exist so clients
that list them at start-up see Coinbase's shape. [?] Every simulated account has the same two: its
USD wallet (FIAT_ACCOUNT) and one verified ACH bank account. Ids are stable per account.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from gpt_trader.exchange_sim.wire import NS, rfc3339
from gpt_trader.features.brokerages.core.interfaces import NotFoundError

if TYPE_CHECKING:
    from gpt_trader.exchange_sim.venue import SimVenue

_METHODS = (
    ("FIAT_ACCOUNT", "USD Wallet", True, True, True, True),
    ("ACH", "Simulated Bank ****1234", True, True, True, True),
)


def payment_methods(venue: SimVenue, account_id: str) -> list[dict[str, Any]]:
    created = rfc3339(venue.clock.start)
    return [
        {
            "id": str(uuid.uuid5(NS, f"payment/{account_id}/{kind}")),
            "type": kind,
            "name": name,
            "currency": "USD",
            "verified": True,
            "allow_buy": buy,
            "allow_sell": sell,
            "allow_deposit": deposit,
            "allow_withdraw": withdraw,
            "created_at": created,
            "updated_at": created,
        }
        for kind, name, buy, sell, deposit, withdraw in _METHODS
    ]


def payment_method(venue: SimVenue, account_id: str, method_id: str) -> dict[str, Any]:
    for method in payment_methods(venue, account_id):
        if method["id"] == method_id:
            return method
    raise NotFoundError(f"payment method {method_id} not found", reason="NOT_FOUND")
