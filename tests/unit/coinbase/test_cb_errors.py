import pytest

from gpt_trader.features.brokerages.coinbase.errors import error_for_http, error_for_reason, parse_retry_after
from gpt_trader.features.brokerages.core.interfaces import (
    AuthError,
    BrokerageError,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    TransientError,
)

HTML_429 = "<html><head><title>429 Too Many Requests</title></head><body>slow down</body></html>"


def test_plain_text_401() -> None:
    err = error_for_http(401, "Unauthorized", {}, what="GET /accounts")
    assert type(err) is AuthError and "Unauthorized" in str(err) and "GET /accounts" in str(err)


def test_html_429_with_retry_after() -> None:
    err = error_for_http(429, HTML_429, {"retry-after": "2"}, what="POST /orders")
    assert isinstance(err, RateLimitError) and err.retry_after == 2.0 and err.retryable
    assert "<html>" not in str(err)


def test_403_missing_scopes() -> None:
    body = '{"error":"PERMISSION_DENIED","error_details":"Missing required scopes","message":""}'
    err = error_for_http(403, body, {}, what="GET /intx/positions/x")
    assert isinstance(err, PermissionDeniedError) and "Missing required scopes" in str(err)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient(status: int) -> None:
    err = error_for_http(status, "upstream connect error", {}, what="GET /products")
    assert isinstance(err, TransientError) and err.retryable and err.reason == f"HTTP_{status}"


def test_400_unknown_field_body() -> None:
    body = (
        '{"error":"unknown","error_details":"proto: (line 1:294): unknown field \\"max_floor\\"",'
        '"message":"proto: unknown field"}'
    )
    err = error_for_http(400, body, {}, what="POST /orders")
    assert isinstance(err, InvalidOrderError) and err.reason == "UNKNOWN" and "max_floor" not in err.reason
    assert "HTTP 400" in str(err)


def test_404_and_other() -> None:
    assert isinstance(error_for_http(404, '{"error":"NOT_FOUND","message":"no"}', {}, what="x"), NotFoundError)
    other = error_for_http(418, "teapot", {}, what="x")
    assert type(other) is BrokerageError and other.reason == "HTTP_418"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("INSUFFICIENT_FUND", InsufficientFundsError),
        ("PREVIEW_INSUFFICIENT_FUND", InsufficientFundsError),
        ("INSUFFICIENT_FUNDS", InsufficientFundsError),
        ("INVALID_LEDGER_BALANCE", InsufficientFundsError),
        ("INVALID_LIMIT_PRICE_POST_ONLY", InvalidOrderError),
        ("PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY", InvalidOrderError),
        ("INVALID_SIZE_PRECISION", InvalidOrderError),
        ("INVALID_PRICE_PRECISION", InvalidOrderError),
        ("INVALID_PRODUCT_ID", InvalidOrderError),
        ("UNSUPPORTED_ORDER_CONFIGURATION", InvalidOrderError),
        ("INVALID_NO_LIQUIDITY", InvalidOrderError),
        ("ORDER_ENTRY_DISABLED", InvalidOrderError),
        ("IN_LIQUIDATION", InvalidOrderError),
        ("INVALID_LEVERAGE", InvalidOrderError),
        ("GEOFENCING_RESTRICTION", PermissionDeniedError),
        ("UNKNOWN_CANCEL_ORDER", NotFoundError),
        ("UNKNOWN_FAILURE_REASON", InvalidOrderError),
        ("", InvalidOrderError),
    ],
)
def test_failure_reason_mapping(code: str, cls: type) -> None:
    err = error_for_reason(code, "msg")
    assert type(err) is cls
    assert err.reason == (code.removeprefix("PREVIEW_") or "UNKNOWN_FAILURE_REASON")


def test_retry_after_http_date() -> None:
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:05 GMT"}, now=1445412480.0) == 5.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
