"""Quantization properties: floors never grow a size, prices round to the safe side, all idempotent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.features.brokerages.core.interfaces import (
    InvalidOrderError,
    OrderRequest,
    OrderSide,
    OrderType,
    Product,
)
from gpt_trader.features.brokerages.core.products import default_products
from gpt_trader.features.brokerages.core.quantization import (
    check_min_size,
    is_multiple,
    quantize_order,
    quantize_price,
    quantize_price_nearest,
    quantize_size,
)

D = Decimal
PRODUCTS = default_products()
BY_SYMBOL = {p.symbol: p for p in PRODUCTS}

products = st.sampled_from(PRODUCTS)
amounts = st.decimals(min_value=D("0.00000001"), max_value=D("1000000"), places=12, allow_nan=False)
sides = st.sampled_from(list(OrderSide))


@settings(max_examples=300, deadline=None)
@given(products, amounts)
def test_size_floor_properties(product: Product, size: Decimal) -> None:
    q = quantize_size(size, product)
    assert q <= size
    assert size - q < product.base_increment
    assert is_multiple(q, product.base_increment)
    assert quantize_size(q, product) == q


@settings(max_examples=300, deadline=None)
@given(products, amounts, sides)
def test_price_safe_side_properties(product: Product, price: Decimal, side: OrderSide) -> None:
    q = quantize_price(price, product, side)
    if side is OrderSide.BUY:
        assert q <= price
    else:
        assert q >= price
    assert abs(price - q) < product.price_increment
    assert is_multiple(q, product.price_increment)
    assert quantize_price(q, product, side) == q
    n = quantize_price_nearest(price, product)
    assert abs(n - price) <= product.price_increment / 2
    assert quantize_price_nearest(n, product) == n


def test_min_size_reasons() -> None:
    btc = BY_SYMBOL["BTC-USD"]
    with pytest.raises(InvalidOrderError) as exc:
        check_min_size(D("0"), D("95000"), btc)
    assert exc.value.reason == "INVALID_SIZE"
    with pytest.raises(InvalidOrderError) as exc:
        check_min_size(D("0.000001"), D("95000"), btc)
    assert exc.value.reason == "BELOW_MIN_NOTIONAL"
    with pytest.raises(InvalidOrderError) as exc:
        check_min_size(D("5000"), D("1"), btc)
    assert exc.value.reason == "INVALID_SIZE"
    doge = BY_SYMBOL["DOGE-USD"]
    with pytest.raises(InvalidOrderError) as exc:
        check_min_size(D("0.05"), D("0.32"), doge)
    assert exc.value.reason == "INVALID_SIZE"
    check_min_size(D("10"), D("0.32"), doge)


def test_quantize_order_applies_everything() -> None:
    btc = BY_SYMBOL["BTC-USD"]
    req = OrderRequest(
        symbol="BTC-USD",
        side=OrderSide.SELL,
        order_type=OrderType.LIMIT,
        size=D("0.123456789"),
        limit_price=D("95000.001"),
    )
    q = quantize_order(req, btc)
    assert q.size == D("0.12345678") and q.limit_price == D("95000.01")
    assert quantize_order(q, btc) == q
    mkt = OrderRequest(symbol="BTC-USD", side=OrderSide.BUY, order_type=OrderType.MARKET, quote_size=D("10.005"))
    assert quantize_order(mkt, btc, D("95000")).quote_size == D("10.00")
    with pytest.raises(InvalidOrderError) as exc:
        quantize_order(
            OrderRequest(symbol="BTC-USD", side=OrderSide.BUY, order_type=OrderType.MARKET, size=D("0.00000005")),
            btc,
            D("95000"),
        )
    assert exc.value.reason == "BELOW_MIN_NOTIONAL"
    with pytest.raises(InvalidOrderError) as exc:
        quantize_order(req, BY_SYMBOL["ETH-USD"])
    assert exc.value.reason == "INVALID_PRODUCT_ID"


@settings(max_examples=200, deadline=None)
@given(products, amounts, amounts, sides)
def test_quantize_order_idempotent(product: Product, size: Decimal, price: Decimal, side: OrderSide) -> None:
    req = OrderRequest(symbol=product.symbol, side=side, order_type=OrderType.LIMIT, size=size, limit_price=price)
    try:
        q = quantize_order(req, product)
    except InvalidOrderError:
        return
    assert q.size is not None and q.limit_price is not None
    assert q.size <= size and is_multiple(q.size, product.base_increment)
    assert quantize_order(q, product) == q


def test_catalog_is_realistic() -> None:
    btc = BY_SYMBOL["BTC-USD"]
    assert btc.base_increment == D("0.00000001") and btc.price_increment == D("0.01")
    assert btc.quote_min_size == D("1")
    assert BY_SYMBOL["DOGE-USD"].price_increment == D("0.00001")
    perps = [p for p in PRODUCTS if p.is_perpetual]
    assert {p.symbol for p in perps} == {"BTC-PERP-INTX", "ETH-PERP-INTX", "SOL-PERP-INTX"}
    for p in perps:
        assert p.funding_interval_s == 3600
        assert 0 < p.maintenance_margin_rate < 1 / p.max_leverage
    assert len(PRODUCTS) == 13
