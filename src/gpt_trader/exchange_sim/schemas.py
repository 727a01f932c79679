"""Request bodies as strict structs: Coinbase parses proto-JSON and answers 400 on an unknown field.

Amounts stay `str` here (they are strings on the wire); `wire.parse_decimal` turns them into Decimal
with an error that names the field.
"""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

T = TypeVar("T")


class RequestError(Exception):
    """A malformed request: becomes HTTP `status` with Coinbase's {error, error_details, message} body."""

    def __init__(self, details: str, *, status: int = 400, error: str = "INVALID_ARGUMENT") -> None:
        super().__init__(details)
        self.status = status
        self.error = error
        self.details = details


class _Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class MarketIoc(_Strict):
    quote_size: str | None = None
    base_size: str | None = None
    rfq_disabled: bool | None = None
    reduce_only: bool | None = None


class SorLimitIoc(_Strict):
    base_size: str | None = None
    quote_size: str | None = None
    limit_price: str | None = None
    rfq_disabled: bool | None = None
    reduce_only: bool | None = None


class LimitGtc(_Strict):
    base_size: str | None = None
    quote_size: str | None = None
    limit_price: str | None = None
    post_only: bool = False
    rfq_disabled: bool | None = None
    reduce_only: bool | None = None


class LimitGtd(_Strict):
    base_size: str | None = None
    quote_size: str | None = None
    limit_price: str | None = None
    end_time: str | None = None
    post_only: bool = False
    reduce_only: bool | None = None


class LimitFok(_Strict):
    base_size: str | None = None
    quote_size: str | None = None
    limit_price: str | None = None
    rfq_disabled: bool | None = None
    reduce_only: bool | None = None


class StopLimitGtc(_Strict):
    base_size: str | None = None
    limit_price: str | None = None
    stop_price: str | None = None
    stop_direction: str | None = None
    reduce_only: bool | None = None


class StopLimitGtd(_Strict):
    base_size: str | None = None
    limit_price: str | None = None
    stop_price: str | None = None
    end_time: str | None = None
    stop_direction: str | None = None
    reduce_only: bool | None = None


class BracketGtc(_Strict):
    base_size: str | None = None
    limit_price: str | None = None
    stop_trigger_price: str | None = None
    reduce_only: bool | None = None


class BracketGtd(_Strict):
    base_size: str | None = None
    limit_price: str | None = None
    stop_trigger_price: str | None = None
    end_time: str | None = None
    reduce_only: bool | None = None


class OrderConfiguration(_Strict):
    market_market_ioc: MarketIoc | None = None
    sor_limit_ioc: SorLimitIoc | None = None
    limit_limit_gtc: LimitGtc | None = None
    limit_limit_gtd: LimitGtd | None = None
    limit_limit_fok: LimitFok | None = None
    stop_limit_stop_limit_gtc: StopLimitGtc | None = None
    stop_limit_stop_limit_gtd: StopLimitGtd | None = None
    trigger_bracket_gtc: BracketGtc | None = None
    trigger_bracket_gtd: BracketGtd | None = None


class CreateOrderBody(_Strict):
    product_id: str
    side: str
    order_configuration: OrderConfiguration
    client_order_id: str = ""
    self_trade_prevention_id: str | None = None
    leverage: str | None = None
    margin_type: str | None = None
    retail_portfolio_id: str | None = None
    preview_id: str | None = None


class PreviewOrderBody(_Strict):
    product_id: str
    side: str
    order_configuration: OrderConfiguration
    leverage: str | None = None
    margin_type: str | None = None
    retail_portfolio_id: str | None = None
    client_order_id: str | None = None
    self_trade_prevention_id: str | None = None


class CancelBody(_Strict):
    order_ids: list[str]


class EditBody(_Strict):
    order_id: str
    size: str | None = None
    price: str | None = None
    stop_price: str | None = None


class ClosePositionBody(_Strict):
    client_order_id: str
    product_id: str
    size: str | None = None


class PortfolioBody(_Strict):
    name: str


class FundsBody(_Strict):
    value: str
    currency: str


class MoveFundsBody(_Strict):
    funds: FundsBody
    source_portfolio_uuid: str
    target_portfolio_uuid: str


class TradeIncentiveBody(_Strict):
    user_incentive_id: str | None = None
    code_val: str | None = None


class ConvertQuoteBody(_Strict):
    from_account: str
    to_account: str
    amount: str
    trade_incentive_metadata: TradeIncentiveBody | None = None


class ConvertCommitBody(_Strict):
    from_account: str = ""
    to_account: str = ""


class AllocateBody(_Strict):
    portfolio_uuid: str
    symbol: str
    amount: str
    currency: str


class EmptyBody(_Strict):
    pass


_UNKNOWN = re.compile(r"unknown field `([^`]+)`")


def decode_body(raw: bytes, typ: type[T]) -> T:
    """Decode a JSON body strictly; errors read like Coinbase's proto parser and name the field."""
    if not raw.strip():
        raw = b"{}"
    try:
        return msgspec.json.decode(raw, type=typ)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        m = _UNKNOWN.search(msg)
        if m:
            raise RequestError(f'proto: unknown field "{m.group(1)}" ({msg})', error="unknown") from exc
        raise RequestError(f"invalid request body: {msg}") from exc
    except msgspec.DecodeError as exc:
        raise RequestError(f"invalid JSON body: {exc}") from exc
