"""Turn every Coinbase failure shape into a typed `interfaces` error the risk/execution layers know.

Shapes (COINBASE.md §1): HTTP 4xx/5xx with `{"error","error_details","message"}` or a non-JSON body
(plain `Unauthorized`, an HTML 429); HTTP 200 order replies with `success:false` and an
`error_response.error` / `new_order_failure_reason` / `preview_failure_reason`; cancel and edit
`failure_reason`s.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

import msgspec

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

_INSUFFICIENT = frozenset({"INSUFFICIENT_FUND", "INSUFFICIENT_FUNDS", "INVALID_LEDGER_BALANCE", "INSUFFICIENT_MARGIN"})
_PERMISSION = frozenset({"GEOFENCING_RESTRICTION", "PERMISSION_DENIED", "INELIGIBLE_PAIR"})
_NOT_FOUND = frozenset({"UNKNOWN_CANCEL_ORDER", "NOT_FOUND", "ORDER_NOT_FOUND"})
_RATE = frozenset({"RATE_LIMIT_EXCEEDED", "TOO_MANY_REQUESTS"})
_TRANSIENT = frozenset({"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"})
_BODY_PREVIEW = 200


class VenueErrorBody(msgspec.Struct, kw_only=True):
    error: str = ""
    error_details: str = ""
    message: str = ""


def normalize_reason(code: str) -> str:
    """`PREVIEW_INSUFFICIENT_FUND` and `INSUFFICIENT_FUND` are the same reason for our callers."""
    code = (code or "").strip().upper()
    return code.removeprefix("PREVIEW_") or "UNKNOWN_FAILURE_REASON"


def error_for_reason(code: str, message: str = "") -> BrokerageError:
    """Map a failure code (order, cancel, edit, or HTTP `error`) to a typed error with `.reason`."""
    reason = normalize_reason(code)
    text = f"{reason}: {message}" if message else reason
    if reason in _INSUFFICIENT:
        return InsufficientFundsError(text, reason=reason)
    if reason in _PERMISSION:
        return PermissionDeniedError(text, reason=reason)
    if reason in _NOT_FOUND:
        return NotFoundError(text, reason=reason)
    if reason in _RATE:
        return RateLimitError(text, reason=reason)
    if reason in _TRANSIENT:
        return TransientError(text, reason=reason)
    if reason in ("UNAUTHENTICATED", "UNAUTHORIZED"):
        return AuthError(text, reason=reason)
    return InvalidOrderError(text, reason=reason)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, dt.timestamp() - (now if now is not None else time.time()))


def _decode_body(text: str) -> VenueErrorBody | None:
    try:
        return msgspec.json.decode(text, type=VenueErrorBody)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def error_for_http(status: int, text: str, headers: Mapping[str, str], *, what: str) -> BrokerageError:
    """A non-2xx reply. `what` names the call (e.g. "GET /orders/historical/x") for the message."""
    body = _decode_body(text)
    detail = ""
    code = ""
    if body is not None:
        code = body.error
        detail = body.message or body.error_details
    else:
        snippet = " ".join(text.split())[:_BODY_PREVIEW]
        detail = "non-JSON body" + (f": {snippet}" if snippet and not snippet.startswith("<") else " (HTML)")
    msg = f"{what} -> HTTP {status}" + (f" {code}" if code else "") + (f": {detail}" if detail else "")
    if status == 401:
        return AuthError(msg, reason="UNAUTHENTICATED")
    if status == 403:
        return PermissionDeniedError(msg, reason=code or "PERMISSION_DENIED")
    if status == 404:
        return NotFoundError(msg, reason=code or "NOT_FOUND")
    if status == 429:
        return RateLimitError(msg, retry_after=parse_retry_after(headers), reason="RATE_LIMITED")
    if status >= 500 or status == 408:
        return TransientError(msg, reason=f"HTTP_{status}", retry_after=parse_retry_after(headers))
    if status in (400, 409) and body is not None:
        err = error_for_reason(code or "INVALID_REQUEST", detail)
        err.args = (msg,)
        return err
    return BrokerageError(msg, reason=f"HTTP_{status}")
