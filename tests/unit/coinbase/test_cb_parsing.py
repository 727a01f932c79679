from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import cb_samples as s
import msgspec
import pytest

from gpt_trader.features.brokerages.coinbase import models as m
from gpt_trader.features.brokerages.coinbase.parsing import (
    ParseError,
    build_create_body,
    build_order_configuration,
    dec,
    intx_to_balances,
    intx_to_position,
    map_status,
    parse_order_configuration,
    parse_time,
    to_balance,
    to_fill,
    to_order,
    to_product,
    user_order_to_order,
)
from gpt_trader.features.brokerages.core.interfaces import (
    InvalidOrderError,
    Liquidity,
    MarginType,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    ProductType,
    StopDirection,
    TimeInForce,
)

D = Decimal
END = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_spot_product_with_quantization_metadata_ignores_unknown_fields() -> None:
    p = to_product(msgspec.json.decode(s.PRODUCT_BTC, type=m.WireProduct))
    assert p.symbol == "BTC-USD" and p.base_asset == "BTC" and p.quote_asset == "USD"
    assert p.base_increment == D("0.00000001") and p.price_increment == D("0.01")
    assert p.quote_min_size == D("1") and p.base_max_size == D("3400")
    assert p.product_type is ProductType.SPOT and not p.trading_disabled


def test_perp_product() -> None:
    p = to_product(msgspec.json.decode(s.PRODUCT_PERP, type=m.WireProduct))
    assert p.product_type is ProductType.PERPETUAL
    assert p.max_leverage == D("20") and p.funding_interval_s == 3600
    assert p.quote_asset == "USDC" and p.price_increment == D("0.1")


def test_recorded_intx_perp_is_usdc_quoted_with_its_root_unit_as_base() -> None:
    p = to_product(msgspec.json.decode(s.PRODUCT_ETH_PERP_RECORDED, type=m.WireProduct))
    assert (p.symbol, p.base_asset, p.quote_asset) == ("ETH-PERP-INTX", "ETH", "USDC")
    assert p.product_type is ProductType.PERPETUAL and p.contract_size == D("1") and p.max_leverage == D("20")
    # a perp wire without currency ids still gets base = contract root unit and quote USDC, never "PERP"
    bare = s.PRODUCT_ETH_PERP_RECORDED.replace(b'"quote_currency_id":"USDC","quote_display_symbol":"USDC",', b"")
    bare = bare.replace(b'"base_display_symbol":"ETH",', b"")
    p2 = to_product(msgspec.json.decode(bare, type=m.WireProduct))
    assert (p2.base_asset, p2.quote_asset) == ("ETH", "USDC")


def test_intx_balances_parse_usdc_collateral() -> None:
    raw = b"""{"portfolio_balances":[{"portfolio_uuid":"pf","balances":[
      {"asset":{"asset_id":"USDC","asset_name":"USDC"},"quantity":"1000.5","hold":"200","collateral_value":"1000.5",
       "collateral_weight":"1","max_withdraw_amount":"800.5"},
      {"asset":{"asset_id":"USD"},"quantity":"3","hold":"0","collateral_value":"0"}]}]}"""
    got = intx_to_balances(msgspec.json.decode(raw, type=m.IntxBalancesResponse))
    assert [(b.asset, b.total, b.available, b.hold) for b in got] == [
        ("USDC", D("1000.5"), D("800.5"), D("200")),
        ("USD", D("3"), D("3"), D("0")),
    ]
    nameless = b"""{"portfolio_balances":[{"balances":[{"asset":{},"quantity":"1"}]}]}"""
    with pytest.raises(ParseError, match="without asset_id"):
        intx_to_balances(msgspec.json.decode(nameless, type=m.IntxBalancesResponse))


def test_offline_product_is_disabled() -> None:
    wp = msgspec.json.decode(s.PRODUCT_BTC.replace(b'"online"', b'"delisted"'), type=m.WireProduct)
    assert to_product(wp).trading_disabled


def test_order_from_rest_with_ns_timestamps_and_quote_sized_market() -> None:
    o = to_order(msgspec.json.decode(s.ORDER_FILLED_MARKET, type=m.OrderResponse).order)
    assert o.status is OrderStatus.FILLED and o.order_type is OrderType.MARKET
    assert o.time_in_force is TimeInForce.IOC
    assert o.quote_size == D("10.00") and o.filled_size == D("0.00027") and o.size == D("0.00027")
    assert o.avg_fill_price == D("37000.00") and o.fees == D("0.06")
    assert o.created_at == datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert o.leverage is None and o.reject_reason is None


@pytest.mark.parametrize(
    ("venue", "filled", "reason", "ours"),
    [
        ("OPEN", "0", "", OrderStatus.OPEN),
        ("OPEN", "0.1", "", OrderStatus.PARTIALLY_FILLED),
        ("PENDING", "0", "", OrderStatus.OPEN),
        ("QUEUED", "0", "", OrderStatus.OPEN),
        ("FILLED", "1", "", OrderStatus.FILLED),
        ("CANCEL_QUEUED", "0", "", OrderStatus.PENDING_CANCEL),
        ("CANCELLED", "0", "", OrderStatus.CANCELLED),
        ("EXPIRED", "0", "", OrderStatus.EXPIRED),
        ("FAILED", "0", "REJECT_REASON_UNSPECIFIED", OrderStatus.FAILED),
        ("FAILED", "0", "HOLD_FAILURE", OrderStatus.REJECTED),
        ("UNKNOWN_ORDER_STATUS", "0", "", OrderStatus.PENDING_SUBMIT),
    ],
)
def test_status_mapping(venue: str, filled: str, reason: str, ours: OrderStatus) -> None:
    assert map_status(venue, D(filled), reject_reason=reason) is ours


def test_unknown_status_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="unknown order status"):
        map_status("WEIRD", D(0))


def _req(**kw: object) -> OrderRequest:
    base: dict[str, object] = {"symbol": "BTC-USD", "side": OrderSide.BUY, "client_order_id": "c1"}
    base.update(kw)
    r = OrderRequest(**base)  # type: ignore[arg-type]
    r.validate()
    return r


CASES: list[tuple[OrderRequest, dict[str, dict[str, Any]]]] = [
    (
        _req(order_type=OrderType.MARKET, quote_size=D("25.5")),
        {"market_market_ioc": {"quote_size": "25.5"}},
    ),
    (
        _req(order_type=OrderType.MARKET, side=OrderSide.SELL, size=D("0.01")),
        {"market_market_ioc": {"base_size": "0.01"}},
    ),
    (
        _req(order_type=OrderType.LIMIT, size=D("0.01"), limit_price=D("30000"), time_in_force=TimeInForce.IOC),
        {"sor_limit_ioc": {"base_size": "0.01", "limit_price": "30000"}},
    ),
    (
        _req(order_type=OrderType.LIMIT, size=D("1E-8"), limit_price=D("30000.10"), post_only=True),
        {"limit_limit_gtc": {"base_size": "0.00000001", "limit_price": "30000.10", "post_only": True}},
    ),
    (
        _req(
            order_type=OrderType.LIMIT,
            size=D("0.01"),
            limit_price=D("30000"),
            time_in_force=TimeInForce.GTD,
            end_time=END,
        ),
        {
            "limit_limit_gtd": {
                "base_size": "0.01",
                "limit_price": "30000",
                "end_time": "2030-01-02T03:04:05Z",
                "post_only": False,
            }
        },
    ),
    (
        _req(order_type=OrderType.LIMIT, size=D("0.01"), limit_price=D("30000"), time_in_force=TimeInForce.FOK),
        {"limit_limit_fok": {"base_size": "0.01", "limit_price": "30000"}},
    ),
    (
        _req(
            order_type=OrderType.STOP_LIMIT,
            side=OrderSide.SELL,
            size=D("0.01"),
            limit_price=D("29000"),
            stop_price=D("29500"),
        ),
        {
            "stop_limit_stop_limit_gtc": {
                "base_size": "0.01",
                "limit_price": "29000",
                "stop_price": "29500",
                "stop_direction": "STOP_DIRECTION_STOP_DOWN",
            }
        },
    ),
    (
        _req(
            order_type=OrderType.STOP_LIMIT,
            size=D("0.01"),
            limit_price=D("31000"),
            stop_price=D("30500"),
            stop_direction=StopDirection.STOP_UP,
            time_in_force=TimeInForce.GTD,
            end_time=END,
        ),
        {
            "stop_limit_stop_limit_gtd": {
                "base_size": "0.01",
                "limit_price": "31000",
                "stop_price": "30500",
                "stop_direction": "STOP_DIRECTION_STOP_UP",
                "end_time": "2030-01-02T03:04:05Z",
            }
        },
    ),
    (
        _req(
            order_type=OrderType.BRACKET,
            size=D("0.01"),
            limit_price=D("32000"),
            stop_trigger_price=D("28000"),
        ),
        {"trigger_bracket_gtc": {"base_size": "0.01", "limit_price": "32000", "stop_trigger_price": "28000"}},
    ),
    (
        _req(
            order_type=OrderType.BRACKET,
            size=D("0.01"),
            limit_price=D("32000"),
            stop_trigger_price=D("28000"),
            time_in_force=TimeInForce.GTD,
            end_time=END,
        ),
        {
            "trigger_bracket_gtd": {
                "base_size": "0.01",
                "limit_price": "32000",
                "stop_trigger_price": "28000",
                "end_time": "2030-01-02T03:04:05Z",
            }
        },
    ),
]


@pytest.mark.parametrize(("req", "expected"), CASES, ids=[next(iter(c[1])) + str(i) for i, c in enumerate(CASES)])
def test_order_configuration_variants_round_trip(req: OrderRequest, expected: dict[str, dict[str, Any]]) -> None:
    cfg = build_order_configuration(req)
    assert cfg == expected
    back = parse_order_configuration(msgspec.json.decode(msgspec.json.encode(cfg)))
    assert back.order_type is req.order_type
    assert back.time_in_force is (TimeInForce.IOC if req.order_type is OrderType.MARKET else req.time_in_force)
    assert back.size == req.size and back.quote_size == req.quote_size
    assert back.limit_price == req.limit_price


def test_create_body_carries_perp_fields() -> None:
    from gpt_trader.features.brokerages.core.interfaces import MarginType as MT

    r = _req(
        symbol="BTC-PERP-INTX",
        order_type=OrderType.LIMIT,
        size=D("0.01"),
        limit_price=D("30000"),
        leverage=D("5"),
        margin_type=MT.CROSS,
    )
    body = build_create_body(r)
    assert body["client_order_id"] == "c1" and body["product_id"] == "BTC-PERP-INTX" and body["side"] == "BUY"
    assert body["leverage"] == "5" and body["margin_type"] == "CROSS"


def test_unsupported_combinations_are_refused() -> None:
    with pytest.raises(InvalidOrderError) as e:
        build_order_configuration(
            _req(
                order_type=OrderType.STOP_LIMIT,
                size=D(1),
                limit_price=D(1),
                stop_price=D(1),
                time_in_force=TimeInForce.IOC,
            )
        )
    assert e.value.reason == "UNSUPPORTED_ORDER_CONFIGURATION"
    with pytest.raises(ParseError, match="unknown order_configuration"):
        parse_order_configuration({"twap_limit_gtd": {}})


def test_fill_and_balance() -> None:
    f = to_fill(msgspec.json.decode(s.FILLS, type=m.FillsPage).fills[0])
    assert f.price == D("37000.5") and f.size == D("0.001") and f.fee == D("0.222003")
    assert f.liquidity is Liquidity.MAKER and f.side is OrderSide.BUY and f.trade_id == "t1"
    b = to_balance(msgspec.json.decode(s.ACCOUNTS, type=m.AccountsPage).accounts[0])
    assert (b.asset, b.available, b.hold, b.total) == ("BTC", D("1.5"), D("0.25"), D("1.75"))


def test_intx_short_position() -> None:
    p = intx_to_position(msgspec.json.decode(s.INTX_POSITIONS, type=m.IntxPositionsResponse).positions[0])
    assert p.symbol == "BTC-PERP-INTX" and p.size == D("-0.5") and p.entry_price == D("64000.00")
    assert p.liquidation_price == D("80000") and p.leverage == D("10") and p.margin_type is MarginType.CROSS


def test_user_channel_order() -> None:
    raw = (
        b'{"avg_price":"100.5","cancel_reason":"","client_order_id":"c","completion_percentage":"50",'
        b'"cumulative_quantity":"1","filled_value":"100.5","leaves_quantity":"1","limit_price":"101",'
        b'"number_of_fills":"1","order_id":"o","order_side":"BUY","order_type":"Limit","post_only":"false",'
        b'"product_id":"ETH-USD","status":"OPEN","time_in_force":"GOOD_UNTIL_CANCELLED","total_fees":"0.1",'
        b'"creation_time":"2024-01-01T00:00:00Z","end_time":"0001-01-01T00:00:00Z","stop_price":""}'
    )
    o = user_order_to_order(msgspec.json.decode(raw, type=m.WsUserOrder))
    assert o.size == D(2) and o.filled_size == D(1) and o.status is OrderStatus.PARTIALLY_FILLED
    assert o.order_type is OrderType.LIMIT and o.end_time is None and not o.post_only


def test_scalars() -> None:
    assert dec("") is None and dec("1.10") == D("1.10")
    with pytest.raises(ParseError):
        dec("abc")
    assert parse_time("1639508050") == datetime.fromtimestamp(1639508050, tz=UTC)
    assert parse_time("2024-01-01T00:00:00.123456789+00:00") == datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    with pytest.raises(ParseError):
        parse_time("yesterday")


def test_intx_position_funding_paid() -> None:
    """The live sample has no funding field (funding_paid stays 0); the simulator's extension maps, signed."""
    live = intx_to_position(msgspec.json.decode(s.INTX_POSITIONS, type=m.IntxPositionsResponse).positions[0])
    assert live.funding_paid == 0
    raw = (
        b'{"symbol":"BTC-PERP-INTX","position_side":"POSITION_SIDE_SHORT","net_size":"0.5",'
        b'"funding_paid":{"value":"-12.34","currency":"USD"}}'
    )
    p = intx_to_position(msgspec.json.decode(raw, type=m.IntxPosition))
    assert p.size == D("-0.5") and p.funding_paid == D("-12.34")


def test_products_share_their_increment_and_limit_decimals() -> None:
    """Coinbase lists ~800 products with a few distinct increments: each value is one shared Decimal."""
    wire = msgspec.json.decode(s.PRODUCT_BTC, type=m.WireProduct)
    first = to_product(wire)
    second = to_product(msgspec.structs.replace(wire, product_id="ZZZ-USD", base_currency_id="ZZZ"))
    assert second.symbol == "ZZZ-USD" and second.base_increment == first.base_increment
    for field in ("base_increment", "quote_increment", "base_min_size", "quote_min_size"):
        assert getattr(first, field) is getattr(second, field), field
    with pytest.raises(ParseError):
        to_product(msgspec.structs.replace(wire, base_increment="1.2.3"))
