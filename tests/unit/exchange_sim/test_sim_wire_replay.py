from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest

from gpt_trader.exchange_sim.replay import ReplayCursor, ReplayFileError, load_series
from gpt_trader.exchange_sim.schemas import CreateOrderBody, RequestError, decode_body
from gpt_trader.exchange_sim.wire import (
    OrderReject,
    d,
    order_configuration,
    order_request_from_wire,
    parse_time,
    rfc3339,
)
from gpt_trader.features.brokerages.core.interfaces import (
    Order,
    OrderSide,
    OrderType,
    StopDirection,
    TimeInForce,
)


def body(config: str, side: str = "BUY") -> CreateOrderBody:
    raw = f'{{"client_order_id":"c1","product_id":"BTC-USD","side":"{side}","order_configuration":{config}}}'
    return decode_body(raw.encode(), CreateOrderBody)


def test_decimal_strings() -> None:
    assert d(Decimal("1.2300")) == "1.23"
    assert d(Decimal("1E+2")) == "100"
    assert d(Decimal("0E-8")) == "0"
    assert d(None) == ""


def test_unknown_field_gives_proto_style_error() -> None:
    with pytest.raises(RequestError) as info:
        body('{"limit_limit_gtc":{"base_size":"1","limit_price":"2","max_floor":"1"}}')
    assert info.value.error == "unknown" and 'unknown field "max_floor"' in info.value.details


@pytest.mark.parametrize(
    ("config", "otype", "tif"),
    [
        ('{"market_market_ioc":{"quote_size":"10"}}', OrderType.MARKET, TimeInForce.IOC),
        ('{"sor_limit_ioc":{"base_size":"1","limit_price":"5"}}', OrderType.LIMIT, TimeInForce.IOC),
        (
            '{"limit_limit_gtc":{"base_size":"1","limit_price":"5","post_only":true}}',
            OrderType.LIMIT,
            TimeInForce.GTC,
        ),
        (
            '{"limit_limit_gtd":{"base_size":"1","limit_price":"5","end_time":"2030-01-01T00:00:00Z"}}',
            OrderType.LIMIT,
            TimeInForce.GTD,
        ),
        ('{"limit_limit_fok":{"base_size":"1","limit_price":"5"}}', OrderType.LIMIT, TimeInForce.FOK),
        (
            '{"stop_limit_stop_limit_gtc":{"base_size":"1","limit_price":"5","stop_price":"6",'
            '"stop_direction":"STOP_DIRECTION_STOP_UP"}}',
            OrderType.STOP_LIMIT,
            TimeInForce.GTC,
        ),
        (
            '{"trigger_bracket_gtd":{"base_size":"1","limit_price":"5","stop_trigger_price":"4",'
            '"end_time":"2030-01-01T00:00:00Z"}}',
            OrderType.BRACKET,
            TimeInForce.GTD,
        ),
    ],
)
def test_every_configuration_round_trips(config: str, otype: OrderType, tif: TimeInForce) -> None:
    req = order_request_from_wire(body(config), "c1")
    req.validate()
    assert (req.order_type, req.time_in_force) == (otype, tif)
    order = Order(
        order_id="o",
        client_order_id="c1",
        symbol=req.symbol,
        side=req.side,
        order_type=req.order_type,
        size=req.size or Decimal(0),
        time_in_force=req.time_in_force,
        limit_price=req.limit_price,
        stop_price=req.stop_price,
        stop_direction=req.stop_direction,
        stop_trigger_price=req.stop_trigger_price,
        quote_size=req.quote_size,
        end_time=req.end_time,
        post_only=req.post_only,
    )
    wire = order_configuration(order)
    again = order_request_from_wire(
        decode_body(
            ('{"product_id":"BTC-USD","side":"BUY","order_configuration":' + json.dumps(wire) + "}").encode(),
            CreateOrderBody,
        ),
        "c1",
    )
    assert again == req


def test_bad_orders() -> None:
    with pytest.raises(OrderReject) as info:
        order_request_from_wire(body("{}"), "c")
    assert info.value.reason == "UNSUPPORTED_ORDER_CONFIGURATION"
    with pytest.raises(OrderReject) as info:
        order_request_from_wire(body('{"market_market_ioc":{"base_size":"1"}}', side="HOLD"), "c")
    assert info.value.reason == "INVALID_SIDE"
    with pytest.raises(RequestError, match="base_size must be a decimal string"):
        order_request_from_wire(body('{"limit_limit_gtc":{"base_size":"abc","limit_price":"1"}}'), "c")
    with pytest.raises(RequestError, match="stop_direction must be one of"):
        order_request_from_wire(
            body(
                '{"stop_limit_stop_limit_gtc":{"base_size":"1","limit_price":"1","stop_price":"1","stop_direction":"UP"}}'
            ),
            "c",
        )
    req = order_request_from_wire(
        body(
            '{"stop_limit_stop_limit_gtc":{"base_size":"1","limit_price":"1","stop_price":"1",'
            '"stop_direction":"STOP_DIRECTION_STOP_DOWN"}}'
        ),
        "c",
    )
    assert req.stop_direction is StopDirection.STOP_DOWN and req.side is OrderSide.BUY


def test_times() -> None:
    t = parse_time("1700000000", "start")
    assert t == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    assert parse_time("2023-11-14T22:13:20Z", "x") == t
    assert rfc3339(t) == "2023-11-14T22:13:20.000000Z"
    with pytest.raises(RequestError, match="start must be RFC3339"):
        parse_time("yesterday", "start")


def test_replay_candle_path_and_wrap(tmp_path: Path) -> None:
    path = tmp_path / "c.csv.gz"
    path.write_bytes(
        gzip.compress(
            b"timestamp,open,high,low,close,volume\n"
            b"2020-01-01T00:00:00Z,100,110,90,105,1\n"
            b"2020-01-01T00:01:00Z,105,106,104,104,2\n"
        )
    )
    series = load_series(path)
    assert series.kind == "candles" and series.interval_s == 60
    cur = ReplayCursor(series)
    t0 = series.start
    assert cur.price_at(t0) == Decimal(100)
    assert cur.price_at(t0 + dt.timedelta(seconds=20)) == Decimal(90)  # up bar: open -> low first
    assert cur.price_at(t0 + dt.timedelta(seconds=40)) == Decimal(110)
    assert cur.price_at(t0 + dt.timedelta(seconds=120)) == Decimal(100)  # wrapped to the start
    assert len(cur.candles_until(t0 + dt.timedelta(seconds=61))) == 1


def test_replay_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("when,price\n1,2\n")
    with pytest.raises(ReplayFileError, match="no time column"):
        load_series(bad)
    with pytest.raises(ReplayFileError, match="not found"):
        load_series(tmp_path / "missing.csv")


def test_replay_real_files_load() -> None:
    root = Path("/work/shared/data/market")
    if not root.exists():
        pytest.fail("shared market data missing")
    s = load_series(root / "ohlcv/bitstamp_BTC-USD_1m_2020-01-01.csv.gz")
    assert s.interval_s == 60 and len(s.candles) == 1440
    t = load_series(root / "ticks/binance-usdm_ETHUSDT_trades_2023-02-02.csv.gz")
    assert t.kind == "trades" and len(t.trades) == 1000
    cur = ReplayCursor(t)
    assert len(list(cur.trades_between(t.start, t.start + dt.timedelta(seconds=5)))) > 0
