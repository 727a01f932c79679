"""Fuzzed REST replies into the adapter (issue 17): a real HTTP server on 127.0.0.1 answers every call with
a hostile reply (HTML error pages, empty bodies, missing fields, wrong types, extra fields, NaN and huge
numbers, odd statuses); the REST client and the parsing that turns replies into domain objects either
return sane objects or raise a typed BrokerageError, never anything else. A create whose reply cannot be
read is ambiguous (resolved by client_order_id), never a plain retryable error."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
from frames import json_values, numbers, user_order
from hypothesis import given
from hypothesis import strategies as st

from gpt_trader.features.brokerages.coinbase import models as m
from gpt_trader.features.brokerages.coinbase import parsing as p
from gpt_trader.features.brokerages.coinbase.rest import CoinbaseRestClient
from gpt_trader.features.brokerages.core.interfaces import (
    AmbiguousOrderStateError,
    BrokerageError,
    Order,
    TransientError,
)

HTML = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>cloudflare</body></html>"
STATUSES = [200, 200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 409, 418, 429, 500, 502, 503, 504]

order_wire = st.fixed_dictionaries(
    {"order_id": st.one_of(st.text(min_size=1, max_size=6), json_values)},
    optional={
        "client_order_id": st.text(max_size=6), "product_id": st.sampled_from(["BTC-USD", "", "X"]),
        "side": st.sampled_from(["BUY", "SELL", "", "?"]), "status": st.sampled_from(["OPEN", "FILLED", "?", ""]),
        "filled_size": numbers, "average_filled_price": numbers, "total_fees": numbers, "filled_value": numbers,
        "created_time": st.sampled_from(["2026-01-01T00:00:00Z", "", "99999999999999999999", "x"]),
        "order_configuration": json_values, "extra_field": json_values,
    },
)  # fmt: skip
product_wire = st.fixed_dictionaries(
    {"product_id": st.sampled_from(["BTC-USD", "BTC-PERP-INTX", "", "X"])},
    optional={
        "price": numbers, "base_increment": numbers, "quote_increment": numbers, "base_min_size": numbers,
        "base_max_size": numbers, "quote_min_size": numbers, "product_type": st.sampled_from(["SPOT", "FUTURE", "?"]),
        "status": st.text(max_size=4), "future_product_details": json_values,
    },
)  # fmt: skip
level = st.fixed_dictionaries({"price": numbers, "size": numbers})
bodies = st.one_of(
    st.just(b""),
    st.just(HTML),
    st.binary(max_size=40),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"order": order_wire}).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"orders": st.lists(order_wire, max_size=3), "has_next": json_values}).map(
        lambda v: json.dumps(v).encode()
    ),
    st.fixed_dictionaries({"products": st.lists(product_wire, max_size=3)}).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "pricebook": st.fixed_dictionaries(
                {
                    "product_id": st.just("BTC-USD"),
                    "bids": st.lists(level, max_size=3),
                    "asks": st.lists(level, max_size=3),
                }
            )
        }
    ).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "success": json_values,
            "order_id": json_values,
            "success_response": json_values,
            "error_response": json_values,
        }
    ).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"orders": st.lists(user_order, max_size=2)}).map(lambda v: json.dumps(v).encode()),
)
replies = st.tuples(st.sampled_from(STATUSES), bodies, st.sampled_from(["", "0", "-5", "soon", "0.01"]))


class HostileServer:
    """HTTP/1.1 on 127.0.0.1 that answers every request with the one reply it is given."""

    def __init__(self, status: int, body: bytes, retry_after: str) -> None:
        self.reply = status, body, retry_after
        self.server: asyncio.Server | None = None
        self.requests = 0

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            self.requests += 1
            status, body, retry_after = self.reply
            extra = f"Retry-After: {retry_after}\r\n" if retry_after else ""
            kind = "text/html" if body.startswith(b"<") else "application/json"
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n{extra}"
                f"Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _sane_order(order: Order) -> None:
    assert order.size.is_finite() and order.size >= 0 and order.filled_size.is_finite() and order.filled_size >= 0
    for value in (order.limit_price, order.avg_fill_price):
        assert value is None or (value.is_finite() and value > 0), order


def _sane_positive(*values: Decimal | None) -> None:
    for value in values:
        assert value is None or (value.is_finite() and value > 0), values


async def _call(rest: CoinbaseRestClient, which: str) -> None:
    """One adapter read, parsed the way the broker parses it; results checked for sane values."""
    if which == "order":
        _sane_order(p.to_order(await rest.get_order("abc")))
    elif which == "orders":
        for w in await rest.all_orders(max_pages=2):
            _sane_order(p.to_order(w))
    elif which == "products":
        for prod in (await rest.list_products(public=True)).products:
            product = p.to_product(prod)
            _sane_positive(product.price_increment, product.base_increment, product.quote_increment)
            assert product.base_min_size.is_finite() and product.base_min_size >= 0, product
    elif which == "book":
        book = p.to_order_book((await rest.product_book("BTC-USD", limit=5)).pricebook, "BTC-USD")
        _sane_positive(*(lv.price for lv in (*book.bids, *book.asks)))
    elif which == "accounts":
        for account in await rest.all_accounts():
            balance = p.to_balance(account)
            assert balance.available.is_finite() and balance.total.is_finite(), balance
    elif which == "fills":
        for f in (await rest.list_fills(order_ids=["abc"])).fills:
            fill = p.to_fill(f)
            _sane_positive(fill.price, fill.size)
            assert fill.fee.is_finite()


CALLS = ["order", "orders", "products", "book", "accounts", "fills"]


@given(reply=replies, which=st.sampled_from(CALLS))
def test_reads_return_sane_objects_or_typed_errors(reply: tuple[int, bytes, str], which: str) -> None:
    async def go() -> None:
        async with HostileServer(*reply) as url:
            rest = CoinbaseRestClient(url, _NoSigner(), max_attempts=1, timeout_s=5)
            try:
                await _call(rest, which)
            except BrokerageError:
                pass  # typed: the loop handles it
            finally:
                await rest.aclose()

    asyncio.run(go())


@given(reply=replies)
def test_a_create_never_ends_in_an_untyped_or_retryable_unknown(reply: tuple[int, bytes, str]) -> None:
    async def go() -> None:
        async with HostileServer(*reply) as url:
            rest = CoinbaseRestClient(url, _NoSigner(), max_attempts=1, timeout_s=5)
            try:
                body = {"client_order_id": "c1", "product_id": "BTC-USD", "side": "BUY", "order_configuration": {}}
                resp = await rest.create_order(body)
                if resp.success:
                    assert isinstance(resp.order_id or (resp.success_response and resp.success_response.order_id), str)
            except AmbiguousOrderStateError:
                pass
            except TransientError as exc:
                status = reply[0]
                assert status == 429 or status >= 500 or exc.reason == "CONNECT", (status, exc)
            except BrokerageError:
                pass
            finally:
                await rest.aclose()

    asyncio.run(go())


def test_an_unreadable_create_reply_is_ambiguous() -> None:
    """Found by the fuzzer: a 200 with an HTML page to POST /orders raised a retryable TransientError,
    though the order may have been created; it is now AmbiguousOrderStateError (resolve by client id)."""

    async def go() -> None:
        async with HostileServer(200, HTML, "") as url:
            rest = CoinbaseRestClient(url, _NoSigner(), max_attempts=1)
            with pytest.raises(AmbiguousOrderStateError):
                await rest.create_order({"client_order_id": "c1"})
            await rest.aclose()

    asyncio.run(go())


def test_a_nan_price_in_a_reply_is_a_typed_venue_error() -> None:
    """Found by the fuzzer: NaN/Infinity prices parsed into Decimal('NaN') orders and books; and the
    ParseError the parsing raised was a bare ValueError the trading loop (which handles BrokerageError)
    did not catch. Now a non-finite number is a ParseError, and a ParseError is a BrokerageError."""
    for raw in ("NaN", "Infinity", "-Infinity", "sNaN"):
        with pytest.raises(BrokerageError, match="finite"):
            p.dec(raw)
    with pytest.raises(BrokerageError, match="out of range"):
        p.parse_time("99999999999999999999")
    nan_book = m.PriceBook(product_id="BTC-USD", asks=[m.PriceLevel(price=Decimal("NaN"), size=Decimal("1"))])
    with pytest.raises(BrokerageError, match="not a finite number"):
        p.to_order_book(nan_book, "BTC-USD")


class _NoSigner:
    """Requests go out unsigned (the hostile server checks nothing); the client still takes the private path."""

    kind = "none"

    def rest_headers(self, method: str, host: str, path: str, body: bytes) -> dict[str, str]:
        return {}

    def ws_fields(self, channel: str, product_ids: Any) -> dict[str, str]:
        return {}
