from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gpt_trader.features.brokerages.core.interfaces import (
    ALLOWED_TRANSITIONS,
    TERMINAL_STATUSES,
    IllegalTransitionError,
    InvalidOrderError,
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

S = OrderStatus
TERMINALS_BY_VALUE: list[OrderStatus] = sorted(TERMINAL_STATUSES, key=lambda s: s.value)


def _order(status: OrderStatus = S.PENDING_SUBMIT) -> Order:
    return Order(
        order_id="o1",
        client_order_id="c1",
        symbol="BTC-USD",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal("1"),
        status=status,
    )


def test_happy_path_lifecycle() -> None:
    o = _order()
    for nxt in (S.OPEN, S.PARTIALLY_FILLED, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.CANCELLED):
        o.transition(nxt, at=datetime(2025, 1, 1, tzinfo=UTC))
    assert o.status is S.CANCELLED
    assert o.updated_at == datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("terminal", TERMINALS_BY_VALUE)
def test_terminal_states_are_final(terminal: OrderStatus) -> None:
    for nxt in OrderStatus:
        o = _order(terminal)
        with pytest.raises(IllegalTransitionError):
            o.transition(nxt)
        assert o.status is terminal


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (S.PENDING_SUBMIT, S.PENDING_CANCEL),
        (S.OPEN, S.OPEN),
        (S.OPEN, S.REJECTED),
        (S.PENDING_SUBMIT, S.PENDING_AMEND),
        (S.PENDING_CANCEL, S.PENDING_AMEND),
        (S.PENDING_AMEND, S.REJECTED),
    ],
)
def test_illegal_moves_rejected_and_not_applied(src: OrderStatus, dst: OrderStatus) -> None:
    o = _order(src)
    with pytest.raises(IllegalTransitionError, match=f"{src.value} -> {dst.value}"):
        o.transition(dst)
    assert o.status is src


def test_every_status_has_a_rule_and_working_flags() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(OrderStatus)
    assert S.OPEN.is_working and S.PENDING_CANCEL.is_working and not S.FILLED.is_working
    assert not S.PENDING_SUBMIT.is_working and not S.PENDING_SUBMIT.is_terminal


def test_remaining_size() -> None:
    o = _order()
    o.filled_size = Decimal("0.4")
    assert o.remaining_size == Decimal("0.6")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"order_type": OrderType.MARKET}, "INVALID_SIZE"),
        ({"order_type": OrderType.LIMIT, "size": Decimal("1")}, "INVALID_LIMIT_PRICE"),
        ({"order_type": OrderType.STOP_LIMIT, "size": Decimal("1"), "limit_price": Decimal("1")}, "INVALID_STOP_PRICE"),
        (
            {"order_type": OrderType.BRACKET, "size": Decimal("1"), "limit_price": Decimal("1")},
            "INVALID_BRACKET_PRICES",
        ),
        (
            {
                "order_type": OrderType.LIMIT,
                "size": Decimal("1"),
                "limit_price": Decimal("1"),
                "time_in_force": TimeInForce.GTD,
            },
            "INVALID_END_TIME",
        ),
        (
            {
                "order_type": OrderType.LIMIT,
                "size": Decimal("1"),
                "limit_price": Decimal("1"),
                "time_in_force": TimeInForce.IOC,
                "post_only": True,
            },
            "INVALID_POST_ONLY",
        ),
        ({"order_type": OrderType.LIMIT, "quote_size": Decimal("10"), "limit_price": Decimal("1")}, "INVALID_SIZE"),
        ({"order_type": OrderType.MARKET, "size": Decimal("-1")}, "INVALID_SIZE"),
    ],
)
def test_request_shape_validation(kwargs: dict, reason: str) -> None:
    req = OrderRequest(symbol="BTC-USD", side=OrderSide.BUY, **kwargs)
    with pytest.raises(InvalidOrderError) as info:
        req.validate()
    assert info.value.reason == reason


def test_valid_request_passes() -> None:
    OrderRequest(
        symbol="BTC-USD",
        side=OrderSide.SELL,
        order_type=OrderType.LIMIT,
        size=Decimal("0.1"),
        limit_price=Decimal("100"),
        post_only=True,
    ).validate()


def test_order_from_request_copies_the_request_and_takes_overrides() -> None:
    req = OrderRequest(
        symbol="BTC-USD",
        side=OrderSide.SELL,
        order_type=OrderType.LIMIT,
        size=Decimal("0.5"),
        limit_price=Decimal("100"),
        post_only=True,
        client_order_id="c9",
    )
    at = datetime(2025, 1, 1, tzinfo=UTC)
    o = Order.from_request(req, order_id="o9", status=S.OPEN, at=at, size=Decimal("0.4"))
    assert (o.order_id, o.client_order_id, o.symbol, o.side, o.limit_price, o.post_only) == (
        "o9",
        "c9",
        "BTC-USD",
        OrderSide.SELL,
        Decimal("100"),
        True,
    )
    assert o.size == Decimal("0.4") and o.status is S.OPEN and o.created_at == o.updated_at == at
    assert Order.from_request(req, order_id="x").status is S.PENDING_SUBMIT
