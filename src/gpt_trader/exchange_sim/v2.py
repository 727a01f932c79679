"""Coinbase App v2 routes that third-party clients call next to Advanced Trade v3.

ccxt's `coinbase` class reads currencies and exchange rates from v2 in `load_markets`, its default
`fetch_balance` is `GET /v2/accounts` and its default `fetch_time` is `GET /v2/time`. v2 has its own
envelope (`{"data": ...}`, list pagination by `starting_after`/`ending_before`) and its own error body
(`{"errors": [{"id", "message"}]}`), so it lives apart from the v3 handlers in rest.py.
"""

from __future__ import annotations

import functools
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from gpt_trader.exchange_sim.rest import Handler, json_response, principal_of, q_int
from gpt_trader.exchange_sim.schemas import RequestError
from gpt_trader.exchange_sim.wire import NS, d
from gpt_trader.features.brokerages.core.interfaces import USD_RATES, NotFoundError, ProductType

if TYPE_CHECKING:
    from gpt_trader.exchange_sim.venue import SimVenue

V2 = "/v2"
#: v2 pagination. [?] The docs give a default of 25; ccxt asks for 250 (fetch_balance) and a live reply
#: echoed a limit of 244, so the cap is above 100; 300 is our guess.
DEFAULT_LIMIT = 25
MAX_LIMIT = 300
FIAT = frozenset({"USD", "EUR", "GBP"})
#: v2 currency names for the assets the simulator lists; others are shown by their code.
NAMES = {
    "USD": "US Dollar",
    "EUR": "Euro",
    "GBP": "British Pound",
    "USDC": "USDC",
    "BTC": "Bitcoin",
    "ETH": "Ethereum",
    "SOL": "Solana",
    "XRP": "XRP",
    "ADA": "Cardano",
    "DOGE": "Dogecoin",
    "AVAX": "Avalanche",
    "LINK": "Chainlink",
    "LTC": "Litecoin",
    "BCH": "Bitcoin Cash",
    "DOT": "Polkadot",
}


def v2_error(status: int, error_id: str, message: str) -> web.Response:
    """The v2 error body (ccxt's handle_errors reads `errors[0].id` and `.message`)."""
    return json_response({"errors": [{"id": error_id, "message": message}]}, status)


def v2_errors(handler: Handler) -> Handler:
    """Answer bad requests and unknown ids in the v2 error shape rather than v3's."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RequestError as exc:
            return v2_error(exc.status, "invalid_request", exc.details)
        except NotFoundError as exc:
            return v2_error(404, "not_found", str(exc))

    return wrapped


def currency_wire(code: str, sort_index: int) -> dict[str, Any]:
    """A v2 currency object as it appears in `/v2/currencies/crypto` and inside each account."""
    fiat = code in FIAT
    out: dict[str, Any] = {
        "code": code,
        "name": NAMES.get(code, code),
        "color": "#0066cf" if fiat else "#5a6b7d",
        "sort_index": sort_index,
        "exponent": 2 if fiat else 8,
        "type": "fiat" if fiat else "crypto",
    }
    if not fiat:
        out["asset_id"] = str(uuid.uuid5(NS, f"asset/{code}"))
        out["slug"] = NAMES.get(code, code).lower().replace(" ", "-")
    return out


class V2Api:
    """The v2 routes: public currencies, exchange rates and time; private accounts (wallet balances)."""

    def __init__(self, venue: SimVenue) -> None:
        self.venue = venue

    def routes(self) -> list[tuple[str, str, Handler, bool]]:
        """(method, path, handler, public), the same form as RestApi.routes()."""
        return [
            ("GET", f"{V2}/currencies", v2_errors(self.currencies), True),
            ("GET", f"{V2}/currencies/crypto", v2_errors(self.crypto_currencies), True),
            ("GET", f"{V2}/exchange-rates", v2_errors(self.exchange_rates), True),
            ("GET", f"{V2}/time", v2_errors(self.time), True),
            ("GET", f"{V2}/accounts", v2_errors(self.list_accounts), False),
            ("GET", f"{V2}/accounts/{{account_id}}", v2_errors(self.get_account), False),
        ]

    def _assets(self) -> list[str]:
        products = self.venue.products()
        return sorted({p.base_asset for p in products} | {p.quote_asset for p in products})

    # ----------------------------------------------------------------------------------- public
    async def currencies(self, request: web.Request) -> web.Response:
        fiat = [a for a in self._assets() if a in FIAT]
        return json_response({"data": [{"id": a, "name": NAMES.get(a, a), "min_size": "0.01"} for a in fiat]})

    async def crypto_currencies(self, request: web.Request) -> web.Response:
        crypto = [a for a in self._assets() if a not in FIAT]
        return json_response({"data": [currency_wire(a, i) for i, a in enumerate(crypto)]})

    async def exchange_rates(self, request: web.Request) -> web.Response:
        """Units of each asset per one `currency`, from the last trade of its spot market in that currency."""
        currency = request.query.get("currency", "USD")
        rates: dict[str, str] = {currency: "1"}
        if currency in USD_RATES:  # the stablecoins the venue pegs (USDC 1:1 with USD), as the rest of the sim does
            for other, usd in USD_RATES.items():
                rates.setdefault(other, d(USD_RATES[currency] / usd))
        for p in self.venue.products():
            if p.product_type is ProductType.SPOT and p.quote_asset == currency:
                price = self.venue.stats(p.symbol).price
                if price > 0:
                    rates[p.base_asset] = d((Decimal(1) / price).quantize(Decimal("1e-12")))
        return json_response({"data": {"currency": currency, "rates": rates}})

    async def time(self, request: web.Request) -> web.Response:
        now = self.venue.now()
        iso = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        return json_response({"data": {"iso": iso, "epoch": int(now.timestamp())}})

    # ---------------------------------------------------------------------------------- private
    def _accounts(self, account_id: str) -> list[dict[str, Any]]:
        """The caller's DEFAULT-portfolio wallets in v2 form; `balance` is the total (available + hold)."""
        out = []
        for index, acct in enumerate(self.venue.views.wire_accounts(account_id)):
            code = acct["currency"]
            total = Decimal(acct["available_balance"]["value"]) + Decimal(acct["hold"]["value"])
            out.append(
                {
                    "id": acct["uuid"],
                    "name": acct["name"],
                    "primary": acct["default"],
                    "type": "fiat" if code in FIAT else "wallet",
                    "currency": currency_wire(code, index),
                    "balance": {"amount": d(total), "currency": code},
                    "created_at": acct["created_at"],
                    "updated_at": acct["updated_at"],
                    "resource": "account",
                    "resource_path": f"{V2}/accounts/{acct['uuid']}",
                    "allow_deposits": True,
                    "allow_withdrawals": True,
                }
            )
        return out

    async def list_accounts(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        limit = q_int(request, "limit", DEFAULT_LIMIT, lo=1, hi=MAX_LIMIT)
        order = request.query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise RequestError(f"order must be asc or desc, got {order!r}")
        accounts = self._accounts(p.account_id)
        if order == "desc":
            accounts.reverse()
        ids = [a["id"] for a in accounts]
        after = request.query.get("starting_after", "")
        before = request.query.get("ending_before", "")
        if after and before:
            raise RequestError("give starting_after or ending_before, not both")
        start, stop = 0, len(accounts)
        for key, cursor in (("starting_after", after), ("ending_before", before)):
            if cursor and cursor not in ids:
                raise RequestError(f"{key} {cursor!r} is not an account id of this user")
        if after:
            start = ids.index(after) + 1
            stop = min(len(accounts), start + limit)
        elif before:
            stop = ids.index(before)
            start = max(0, stop - limit)
        else:
            stop = min(len(accounts), limit)
        page = accounts[start:stop]
        more_after = stop < len(accounts) and bool(page)
        more_before = start > 0 and bool(page)
        next_after = page[-1]["id"] if more_after else None
        prev_before = page[0]["id"] if more_before else None

        def uri(**cursor: str) -> str:
            return f"{V2}/accounts?{urlencode({'limit': limit, 'order': order, **cursor})}"

        pagination = {
            "ending_before": before or None,
            "starting_after": after or None,
            "previous_ending_before": prev_before,
            "next_starting_after": next_after,
            "limit": limit,
            "order": order,
            "previous_uri": uri(ending_before=prev_before) if prev_before else None,
            "next_uri": uri(starting_after=next_after) if next_after else None,
        }
        return json_response({"pagination": pagination, "data": page})

    async def get_account(self, request: web.Request) -> web.Response:
        """One account by id, or by currency code as v2 also accepts (`/v2/accounts/BTC`)."""
        p = principal_of(request)
        wanted = request.match_info["account_id"]
        for acct in self._accounts(p.account_id):
            if wanted in (acct["id"], acct["currency"]["code"]):
                return json_response({"data": acct})
        raise NotFoundError(f"account {wanted} not found")
