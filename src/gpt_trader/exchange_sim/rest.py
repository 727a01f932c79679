"""REST v3 route handlers: parse the Coinbase request, call the venue, answer in Coinbase's shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gpt_trader.exchange_sim.auth import Principal
from gpt_trader.exchange_sim.payments import payment_method, payment_methods
from gpt_trader.exchange_sim.schemas import (
    CancelBody,
    ClosePositionBody,
    ConvertCommitBody,
    ConvertQuoteBody,
    CreateOrderBody,
    EditBody,
    MoveFundsBody,
    PortfolioBody,
    PreviewOrderBody,
    RequestError,
    decode_body,
)
from gpt_trader.exchange_sim.wire import (
    GRANULARITIES,
    STATUS_FILTER,
    WIRE_ORDER_TYPE,
    WIRE_TIF,
    OrderReject,
    d,
    dumps,
    fill_to_wire,
    order_request_from_wire,
    parse_decimal,
    parse_time,
    product_to_wire,
    product_type_wire,
    rfc3339,
    unix_s,
)
from gpt_trader.features.brokerages.core.interfaces import (
    BrokerageError,
    NotFoundError,
    Order,
    ProductType,
)

if TYPE_CHECKING:
    from gpt_trader.exchange_sim.venue import SimVenue

API = "/api/v3/brokerage"
PRINCIPAL = web.RequestKey("principal", Principal)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: [?] Coinbase's maximum batch_cancel size is not published; 100 is the commonly cited figure.
MAX_BATCH_CANCEL = 100
MAX_CANDLES = 350


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(body), status=status, content_type="application/json")


def error_response(status: int, error: str, details: str, message: str | None = None) -> web.Response:
    return json_response({"error": error, "error_details": details, "message": message or details}, status)


def principal_of(request: web.Request) -> Principal:
    principal = request.get(PRINCIPAL)
    if not isinstance(principal, Principal):
        raise RequestError("authentication required", status=401, error="UNAUTHENTICATED")
    return principal


def q_list(request: web.Request, key: str) -> list[str]:
    """Repeated query keys (`?product_ids=A&product_ids=B`); comma lists are accepted too."""
    out: list[str] = []
    for value in request.query.getall(key, []):
        out.extend(v for v in value.split(",") if v)
    return out


def q_ids(request: web.Request, key: str) -> set[str]:
    """A list filter given as `<key>s` (repeated) or as the older single `<key>` the venue still takes
    (ccxt sends `product_id` to the order and fill lists)."""
    return set(q_list(request, f"{key}s")) | set(q_list(request, key))


def q_int(request: web.Request, key: str, default: int, *, lo: int = 0, hi: int | None = None) -> int:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise RequestError(f"{key} must be an integer, got {raw!r}") from exc
    if value < lo or (hi is not None and value > hi):
        raise RequestError(f"{key} must be in [{lo}, {hi if hi is not None else 'inf'}], got {value}")
    return value


def q_bool(request: web.Request, key: str) -> bool:
    return request.query.get(key, "").lower() in ("1", "true", "yes")


def cursor_page(items: list[Any], request: web.Request, default_limit: int, max_limit: int) -> tuple[list[Any], str]:
    """Offset cursors (opaque to clients): returns the page and the next cursor ('' when done)."""
    limit = q_int(request, "limit", default_limit, lo=0, hi=max_limit) or default_limit
    raw = request.query.get("cursor", "")
    try:
        start = int(raw) if raw else 0
    except ValueError as exc:
        raise RequestError(f"cursor {raw!r} is not a cursor this server issued") from exc
    page = items[start : start + limit]
    nxt = str(start + limit) if start + limit < len(items) else ""
    return page, nxt


class RestApi:
    def __init__(self, venue: SimVenue) -> None:
        self.venue = venue

    def routes(self) -> list[tuple[str, str, Handler, bool]]:
        """(method, path, handler, public)."""
        v = self
        return [
            ("GET", f"{API}/time", v.time, True),
            ("GET", f"{API}/market/products", v.list_products, True),
            ("GET", f"{API}/market/products/{{product_id}}", v.get_product, True),
            ("GET", f"{API}/market/product_book", v.product_book, True),
            ("GET", f"{API}/market/products/{{product_id}}/candles", v.candles, True),
            ("GET", f"{API}/market/products/{{product_id}}/ticker", v.market_trades, True),
            ("GET", f"{API}/accounts", v.list_accounts, False),
            ("GET", f"{API}/accounts/{{account_uuid}}", v.get_account, False),
            ("GET", f"{API}/products", v.list_products, False),
            ("GET", f"{API}/products/{{product_id}}", v.get_product, False),
            ("GET", f"{API}/product_book", v.product_book, False),
            ("GET", f"{API}/best_bid_ask", v.best_bid_ask, False),
            ("GET", f"{API}/products/{{product_id}}/candles", v.candles, False),
            ("GET", f"{API}/products/{{product_id}}/ticker", v.market_trades, False),
            ("POST", f"{API}/orders", v.create_order, False),
            ("POST", f"{API}/orders/preview", v.preview_order, False),
            ("POST", f"{API}/orders/batch_cancel", v.batch_cancel, False),
            ("POST", f"{API}/orders/edit", v.edit_order, False),
            ("POST", f"{API}/orders/edit_preview", v.edit_preview, False),
            ("POST", f"{API}/orders/close_position", v.close_position, False),
            ("GET", f"{API}/orders/historical/batch", v.list_orders, False),
            ("GET", f"{API}/orders/historical/fills", v.list_fills, False),
            ("GET", f"{API}/orders/historical/{{order_id}}", v.get_order, False),
            ("GET", f"{API}/transaction_summary", v.transaction_summary, False),
            ("GET", f"{API}/portfolios", v.list_portfolios, False),
            ("POST", f"{API}/portfolios", v.create_portfolio, False),
            ("POST", f"{API}/portfolios/move_funds", v.move_funds, False),
            ("GET", f"{API}/portfolios/{{portfolio_uuid}}", v.portfolio_breakdown, False),
            ("PUT", f"{API}/portfolios/{{portfolio_uuid}}", v.rename_portfolio, False),
            ("DELETE", f"{API}/portfolios/{{portfolio_uuid}}", v.delete_portfolio, False),
            ("GET", f"{API}/payment_methods", v.list_payment_methods, False),
            ("GET", f"{API}/payment_methods/{{payment_method_id}}", v.get_payment_method, False),
            ("POST", f"{API}/convert/quote", v.convert_quote, False),
            ("GET", f"{API}/convert/trade/{{trade_id}}", v.get_convert_trade, False),
            ("POST", f"{API}/convert/trade/{{trade_id}}", v.commit_convert_trade, False),
            ("GET", f"{API}/key_permissions", v.key_permissions, False),
            ("GET", f"{API}/intx/portfolio/{{portfolio_uuid}}", v.intx_portfolio, False),
            ("GET", f"{API}/intx/positions/{{portfolio_uuid}}", v.intx_positions, False),
            ("GET", f"{API}/intx/positions/{{portfolio_uuid}}/{{symbol}}", v.intx_position, False),
            ("GET", f"{API}/intx/balances/{{portfolio_uuid}}", v.intx_balances, False),
            ("GET", f"{API}/cfm/balance_summary", v.cfm_balance_summary, False),
            ("GET", f"{API}/cfm/positions", v.cfm_positions, False),
            ("GET", f"{API}/cfm/positions/{{product_id}}", v.cfm_position, False),
        ]

    # ----------------------------------------------------------------------------- market data
    async def time(self, request: web.Request) -> web.Response:
        now = self.venue.now() + dt.timedelta(seconds=self.venue.clock.skew_s)
        ms = int(now.timestamp() * 1000)
        return json_response({"iso": rfc3339(now), "epochSeconds": str(ms // 1000), "epochMillis": str(ms)})

    async def list_products(self, request: web.Request) -> web.Response:
        products = self.venue.products()
        ids = q_list(request, "product_ids")
        if ids:
            products = [p for p in products if p.symbol in ids]
        ptype = request.query.get("product_type", "")
        if ptype:
            if ptype not in ("SPOT", "FUTURE", "UNKNOWN_PRODUCT_TYPE"):
                raise RequestError(f"product_type must be SPOT or FUTURE, got {ptype!r}")
            if ptype != "UNKNOWN_PRODUCT_TYPE":
                products = [p for p in products if product_type_wire(p) == ptype]
        expiry = request.query.get("contract_expiry_type", "")
        if expiry == "PERPETUAL":
            products = [p for p in products if p.product_type is ProductType.PERPETUAL]
        elif expiry == "EXPIRING":
            products = []
        offset = q_int(request, "offset", 0)
        limit = q_int(request, "limit", 0)
        page = products[offset : offset + limit] if limit else products[offset:]
        return json_response(
            {
                "products": [product_to_wire(p, self.venue.stats(p.symbol)) for p in page],
                "num_products": len(page),
            }
        )

    async def get_product(self, request: web.Request) -> web.Response:
        product = self.venue.product(request.match_info["product_id"])
        return json_response(product_to_wire(product, self.venue.stats(product.symbol)))

    def _pricebook(self, product_id: str, limit: int) -> dict[str, Any]:
        book = self.venue.book(product_id, limit)
        return {
            "product_id": product_id,
            "bids": [{"price": d(lv.price), "size": d(lv.size)} for lv in book.bids],
            "asks": [{"price": d(lv.price), "size": d(lv.size)} for lv in book.asks],
            "time": rfc3339(book.ts),
        }

    async def product_book(self, request: web.Request) -> web.Response:
        product_id = request.query.get("product_id", "")
        if not product_id:
            raise RequestError("product_id is required")
        product = self.venue.product(product_id)
        limit = q_int(request, "limit", 0, lo=0, hi=10_000) or 500
        pricebook = self._pricebook(product.symbol, limit)
        book = self.venue.book(product.symbol, 1)
        mid = book.mid
        spread = (book.asks[0].price - book.bids[0].price) if book.bids and book.asks else None
        return json_response(
            {
                "pricebook": pricebook,
                "last": d(self.venue.stats(product.symbol).price),
                "mid_market": d(mid) if mid is not None else "",
                "spread_bps": d(book.spread_bps.quantize(Decimal("0.0001"))) if book.spread_bps is not None else "",
                "spread_absolute": d(spread) if spread is not None else "",
            }
        )

    async def best_bid_ask(self, request: web.Request) -> web.Response:
        ids = q_list(request, "product_ids") or [p.symbol for p in self.venue.products()]
        books = [self._pricebook(self.venue.product(pid).symbol, 1) for pid in ids]
        return json_response({"pricebooks": books})

    async def candles(self, request: web.Request) -> web.Response:
        product = self.venue.product(request.match_info["product_id"])
        gran_name = request.query.get("granularity", "")
        if gran_name not in GRANULARITIES:
            raise RequestError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {gran_name!r}")
        gran = GRANULARITIES[gran_name]
        limit = q_int(request, "limit", MAX_CANDLES, lo=1, hi=MAX_CANDLES)
        now = self.venue.now()
        end = parse_time(request.query["end"], "end") if request.query.get("end") else now
        start = (
            parse_time(request.query["start"], "start")
            if request.query.get("start")
            else end - dt.timedelta(seconds=gran * limit)
        )
        if start >= end:
            raise RequestError("start must be before end")
        if (end - start).total_seconds() / gran > limit:
            raise RequestError(f"number of candles requested should be less than {limit + 1}")
        candles = self.venue.candles(product.symbol, gran, start, end)
        candles = sorted(candles, key=lambda c: c.start, reverse=True)[:limit]
        return json_response(
            {
                "candles": [
                    {
                        "start": unix_s(c.start),
                        "low": d(c.low),
                        "high": d(c.high),
                        "open": d(c.open),
                        "close": d(c.close),
                        "volume": d(c.volume),
                    }
                    for c in candles
                ]
            }
        )

    async def market_trades(self, request: web.Request) -> web.Response:
        product = self.venue.product(request.match_info["product_id"])
        limit = q_int(request, "limit", 100, lo=1, hi=1000)
        trades = self.venue.market_trades(product.symbol, limit)
        book = self.venue.book(product.symbol, 1)
        return json_response(
            {
                "trades": [
                    {
                        "trade_id": t.trade_id,
                        "product_id": t.symbol,
                        "price": d(t.price),
                        "size": d(t.size),
                        "time": rfc3339(t.ts),
                        "side": t.side.value,
                        "exchange": product.symbol,
                    }
                    for t in trades
                ],
                "best_bid": d(book.best_bid),
                "best_ask": d(book.best_ask),
            }
        )

    # -------------------------------------------------------------------------------- accounts
    async def list_accounts(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        wanted = request.query.get("retail_portfolio_id", "")
        portfolio = self.venue.portfolios.get(p.account_id, wanted) if wanted else None
        accounts = self.venue.views.wire_accounts(p.account_id, portfolio)
        page, nxt = cursor_page(accounts, request, 49, 250)
        return json_response({"accounts": page, "has_next": bool(nxt), "cursor": nxt, "size": len(page)})

    async def get_account(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        wanted = request.match_info["account_uuid"]
        for portfolio in self.venue.portfolios.listing(p.account_id):
            for acct in self.venue.views.wire_accounts(p.account_id, portfolio):
                if acct["uuid"] == wanted:
                    return json_response({"account": acct})
        raise NotFoundError(f"account {wanted} not found")

    def _trading_portfolio(self, account_id: str, retail_portfolio_id: str | None) -> None:
        """Orders trade in the DEFAULT portfolio only; another (or unknown) portfolio id is refused."""
        if not retail_portfolio_id:
            return
        default = self.venue.portfolios.default(account_id)
        if retail_portfolio_id == default.uuid:
            return
        try:
            self.venue.portfolios.get(account_id, retail_portfolio_id)
        except NotFoundError:
            raise OrderReject("INVALID_REQUEST", f"retail_portfolio_id {retail_portfolio_id} not found") from None
        raise OrderReject(
            "INVALID_REQUEST",
            f"retail_portfolio_id {retail_portfolio_id}: this venue trades only in the DEFAULT portfolio "
            f"{default.uuid}; move funds there first",
        )

    def _in_default(self, request: web.Request, account_id: str) -> bool:
        """False when `retail_portfolio_id` names another of the caller's portfolios (it has no orders)."""
        wanted = request.query.get("retail_portfolio_id", "")
        if not wanted:
            return True
        return self.venue.portfolios.get(account_id, wanted).is_default

    # ---------------------------------------------------------------------------------- orders
    async def create_order(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        body = decode_body(await request.read(), CreateOrderBody)
        client_id = body.client_order_id or uuid.uuid4().hex
        config_echo = self.venue.encode_config(body.order_configuration)
        try:
            forced = self.venue.faults.take_reject()
            if forced:
                raise OrderReject(forced, f"order rejected by fault injection ({forced})")
            self._trading_portfolio(p.account_id, body.retail_portfolio_id)
            req = order_request_from_wire(body, client_id)
            order, duplicate = await self.venue.create_order(p.account_id, req)
        except OrderReject as rej:
            return json_response(self._create_failure(rej, config_echo))
        if duplicate and self.venue.config.duplicate_client_order_id == "reject":
            return json_response(
                self._create_failure(
                    OrderReject("INVALID_REQUEST", f"client_order_id {client_id} already used"),
                    config_echo,
                    order_id=self.venue.public_id(order.order_id),
                )
            )
        return json_response(self._create_success(order, config_echo))

    def _create_success(self, order: Order, config_echo: dict[str, Any]) -> dict[str, Any]:
        oid = self.venue.public_id(order.order_id)
        return {
            "success": True,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": oid,
            "success_response": {
                "order_id": oid,
                "product_id": order.symbol,
                "side": order.side.value,
                "client_order_id": order.client_order_id,
            },
            "order_configuration": config_echo,
        }

    @staticmethod
    def _create_failure(rej: OrderReject, config_echo: dict[str, Any], order_id: str = "") -> dict[str, Any]:
        return {
            "success": False,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": order_id,
            "error_response": {
                "error": rej.reason,
                "message": rej.message,
                "error_details": rej.message,
                "preview_failure_reason": f"PREVIEW_{rej.reason}",
                "new_order_failure_reason": rej.reason,
            },
            "order_configuration": config_echo,
        }

    async def preview_order(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        body = decode_body(await request.read(), PreviewOrderBody)
        try:
            self._trading_portfolio(p.account_id, body.retail_portfolio_id)
            req = order_request_from_wire(body, "")
            preview = self.venue.preview(p.account_id, req)
        except OrderReject as rej:
            return json_response(
                {
                    "order_total": "0",
                    "commission_total": "0",
                    "errs": [f"PREVIEW_{rej.reason}"],
                    "warning": [],
                    "preview_id": "",
                }
            )
        return json_response(preview)

    async def batch_cancel(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        body = decode_body(await request.read(), CancelBody)
        if len(body.order_ids) > MAX_BATCH_CANCEL:
            raise RequestError(f"order_ids holds {len(body.order_ids)} ids; at most {MAX_BATCH_CANCEL} per request")
        results = await self.venue.cancel(p.account_id, body.order_ids)
        return json_response(
            {"results": [{"success": ok, "failure_reason": reason, "order_id": oid} for oid, ok, reason in results]}
        )

    async def edit_order(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        body = decode_body(await request.read(), EditBody)
        size = parse_decimal(body.size, "size", required=False)
        price = parse_decimal(body.price, "price", required=False)
        if size is None and price is None:
            raise RequestError("edit needs size and/or price")
        try:
            self.venue.edit(p.account_id, body.order_id, size, price)
        except BrokerageError as exc:
            reason = exc.reason if exc.reason and exc.reason.isupper() else "UNKNOWN_EDIT_ORDER_FAILURE_REASON"
            return json_response(
                {
                    "success": False,
                    "error_response": {"error_details": str(exc), "edit_order_failure_reason": reason},
                    "errors": [{"edit_failure_reason": reason, "preview_failure_reason": f"PREVIEW_{reason}"}],
                }
            )
        return json_response({"success": True, "success_response": {"order_id": body.order_id}, "errors": []})

    async def edit_preview(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        body = decode_body(await request.read(), EditBody)
        size = parse_decimal(body.size, "size", required=False)
        price = parse_decimal(body.price, "price", required=False)
        return json_response(self.venue.edit_preview(p.account_id, body.order_id, size, price))

    async def close_position(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        body = decode_body(await request.read(), ClosePositionBody)
        size = parse_decimal(body.size, "size", required=False)
        try:
            order = self.venue.close_position(p.account_id, body.client_order_id, body.product_id, size)
        except OrderReject as rej:
            return json_response(self._create_failure(rej, {}))
        return json_response(self._create_success(order, self.venue.config_of(order)))

    async def get_order(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        order = self.venue.get_order(p.account_id, request.match_info["order_id"])
        return json_response({"order": self.venue.order_wire(order)})

    async def list_orders(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        orders = self.venue.all_orders(p.account_id) if self._in_default(request, p.account_id) else []
        ids = set(q_list(request, "order_ids"))
        if ids:
            orders = [o for o in orders if self.venue.public_id(o.order_id) in ids]
        products = q_ids(request, "product_id")
        if products:
            orders = [o for o in orders if o.symbol in products]
        statuses = q_list(request, "order_status")
        if statuses:
            bad = [s for s in statuses if s not in STATUS_FILTER]
            if bad:
                raise RequestError(f"order_status {bad[0]!r} not allowed; allowed: {', '.join(sorted(STATUS_FILTER))}")
            wanted = frozenset().union(*(STATUS_FILTER[s] for s in statuses))
            orders = [o for o in orders if o.status in wanted]
        types = q_list(request, "order_types")
        if types:
            orders = [o for o in orders if WIRE_ORDER_TYPE[o.order_type] in types]
        side = request.query.get("order_side")
        if side:
            orders = [o for o in orders if o.side.value == side]
        if request.query.get("product_type"):
            ptype = request.query["product_type"]
            orders = [o for o in orders if product_type_wire(self.venue.product(o.symbol)) == ptype]
        tifs = q_list(request, "time_in_forces")
        if tifs:
            orders = [o for o in orders if WIRE_TIF[o.time_in_force] in tifs]
        if request.query.get("start_date"):
            start = parse_time(request.query["start_date"], "start_date")
            orders = [o for o in orders if o.created_at is not None and o.created_at >= start]
        if request.query.get("end_date"):
            end = parse_time(request.query["end_date"], "end_date")
            orders = [o for o in orders if o.created_at is not None and o.created_at <= end]
        orders.sort(key=lambda o: o.created_at or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)
        page, nxt = cursor_page(orders, request, 100, 1000)
        return json_response(
            {
                "orders": [self.venue.order_wire(o) for o in page],
                "sequence": "0",
                "has_next": bool(nxt),
                "cursor": nxt,
            }
        )

    async def list_fills(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        fills = self.venue.fills(p.account_id) if self._in_default(request, p.account_id) else []
        ids = q_ids(request, "order_id")
        if ids:
            fills = [f for f in fills if self.venue.public_id(f.order_id) in ids]
        trade_ids = set(q_list(request, "trade_ids"))
        if trade_ids:
            fills = [f for f in fills if f.trade_id in trade_ids]
        products = q_ids(request, "product_id")
        if products:
            fills = [f for f in fills if f.symbol in products]
        if request.query.get("start_sequence_timestamp"):
            start = parse_time(request.query["start_sequence_timestamp"], "start_sequence_timestamp")
            fills = [f for f in fills if f.ts >= start]
        if request.query.get("end_sequence_timestamp"):
            end = parse_time(request.query["end_sequence_timestamp"], "end_sequence_timestamp")
            fills = [f for f in fills if f.ts <= end]
        indexed = list(enumerate(fills))
        indexed.sort(key=lambda it: (it[1].ts, it[0]), reverse=request.query.get("sort_by") != "TRADE_TIME_ASC")
        page, nxt = cursor_page(indexed, request, 100, 1000)
        user = self.venue.user_uuid(p.account_id)
        portfolio = self.venue.portfolio_uuid(p.account_id)
        out = []
        for idx, f in page:
            wire = fill_to_wire(f, user_id=user, portfolio_id=portfolio, entry_id=f"{p.account_id}-{idx}")
            wire["order_id"] = self.venue.public_id(f.order_id)
            wire["cursor"] = str(idx)
            out.append(wire)
        return json_response({"fills": out, "cursor": nxt})

    # ------------------------------------------------------------------------- fees, portfolios
    async def transaction_summary(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        return json_response(self.venue.views.transaction_summary(p.account_id))

    async def list_portfolios(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        listed = self.venue.portfolios.listing(p.account_id, request.query.get("portfolio_type", ""))
        return json_response({"portfolios": [pf.wire() for pf in listed]})

    async def create_portfolio(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        body = decode_body(await request.read(), PortfolioBody)
        return json_response({"portfolio": self.venue.portfolios.create(p.account_id, body.name).wire()})

    async def rename_portfolio(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        body = decode_body(await request.read(), PortfolioBody)
        renamed = self.venue.portfolios.rename(p.account_id, request.match_info["portfolio_uuid"], body.name)
        return json_response({"portfolio": renamed.wire()})

    async def delete_portfolio(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        self.venue.portfolios.delete(p.account_id, request.match_info["portfolio_uuid"])
        return json_response({})

    async def move_funds(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        body = decode_body(await request.read(), MoveFundsBody)
        self.venue.portfolios.move_funds(
            p.account_id,
            body.funds.value,
            body.funds.currency,
            body.source_portfolio_uuid,
            body.target_portfolio_uuid,
        )
        return json_response(
            {"source_portfolio_uuid": body.source_portfolio_uuid, "target_portfolio_uuid": body.target_portfolio_uuid}
        )

    def _own_portfolio(self, request: web.Request) -> str:
        """The caller's account when the path names its DEFAULT portfolio (INTX lives there)."""
        p = principal_of(request)
        wanted = request.match_info["portfolio_uuid"]
        if wanted != self.venue.portfolio_uuid(p.account_id):
            raise NotFoundError(f"portfolio {wanted} not found")
        return p.account_id

    async def portfolio_breakdown(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        portfolio = self.venue.portfolios.get(p.account_id, request.match_info["portfolio_uuid"])
        return json_response({"breakdown": self.venue.views.portfolio_breakdown(p.account_id, portfolio)})

    async def list_payment_methods(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        return json_response({"payment_methods": payment_methods(self.venue, p.account_id)})

    async def get_payment_method(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        method = payment_method(self.venue, p.account_id, request.match_info["payment_method_id"])
        return json_response({"payment_method": method})

    async def convert_quote(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        body = decode_body(await request.read(), ConvertQuoteBody)
        trade = self.venue.convert.quote(p.account_id, body.from_account, body.to_account, body.amount)
        return json_response({"trade": self.venue.convert.wire(trade)})

    async def get_convert_trade(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        trade = self.venue.convert.get(
            p.account_id,
            request.match_info["trade_id"],
            request.query.get("from_account", ""),
            request.query.get("to_account", ""),
        )
        return json_response({"trade": self.venue.convert.wire(trade)})

    async def commit_convert_trade(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        body = decode_body(await request.read(), ConvertCommitBody)
        trade_id = request.match_info["trade_id"]
        trade = self.venue.convert.commit(p.account_id, trade_id, body.from_account, body.to_account)
        return json_response({"trade": self.venue.convert.wire(trade)})

    async def key_permissions(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        return json_response(
            {
                **self.venue.key_permissions,
                "portfolio_uuid": self.venue.portfolio_uuid(p.account_id),
                "portfolio_type": "DEFAULT",
            }
        )

    def _intx_portfolio(self, request: web.Request) -> str:
        """The caller's account for an INTX route; refused like the venue does without INTX access."""
        account = self._own_portfolio(request)
        self.venue.intx.check_portfolio(request.match_info["portfolio_uuid"])
        return account

    async def intx_portfolio(self, request: web.Request) -> web.Response:
        account = self._intx_portfolio(request)
        summary = self.venue.views.intx_summary(account)
        return json_response({"portfolios": [summary], "summary": summary})

    async def intx_positions(self, request: web.Request) -> web.Response:
        account = self._intx_portfolio(request)
        return json_response(
            {"positions": self.venue.views.intx_positions(account), "summary": self.venue.views.intx_summary(account)}
        )

    async def intx_position(self, request: web.Request) -> web.Response:
        account = self._intx_portfolio(request)
        symbol = request.match_info["symbol"]
        self.venue.product(symbol)
        for pos in self.venue.views.intx_positions(account):
            if pos["symbol"] == symbol:
                return json_response({"position": pos})
        raise NotFoundError(f"no open position in {symbol}")

    async def intx_balances(self, request: web.Request) -> web.Response:
        account = self._intx_portfolio(request)
        return json_response({"portfolio_balances": [self.venue.views.intx_balances(account)]})

    async def cfm_balance_summary(self, request: web.Request) -> web.Response:
        p = principal_of(request)
        return json_response({"balance_summary": self.venue.views.futures_balance_summary(p.account_id)})

    async def cfm_positions(self, request: web.Request) -> web.Response:
        principal_of(request)
        # CFM (US-regulated dated futures) are not listed by this venue; only INTX perpetuals are.
        return json_response({"positions": []})

    async def cfm_position(self, request: web.Request) -> web.Response:
        principal_of(request)
        raise NotFoundError(f"no CFM position in {request.match_info['product_id']}")
