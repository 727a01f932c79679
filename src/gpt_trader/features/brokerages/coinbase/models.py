"""Wire shapes of Coinbase Advanced Trade REST v3 and WebSocket messages (COINBASE.md §1, §3).

Tolerant by construction: unknown fields are ignored and every field has a default. Money-like fields
the venue may send as "" (fees, leverage, ticker_batch values) stay `str` here and become Decimal in
`parsing`; fields that are always numeric on the hot path (level2) decode straight to Decimal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec


class Wire(msgspec.Struct, kw_only=True):
    """Base: decode-only structs; unknown fields ignored (msgspec default)."""


class Money(Wire):
    value: str = ""
    currency: str = ""


# ------------------------------------------------------------------------------------------ accounts
class Account(Wire):
    uuid: str = ""
    name: str = ""
    currency: str = ""
    available_balance: Money = msgspec.field(default_factory=Money)
    hold: Money | None = None
    type: str = ""
    active: bool = True
    ready: bool = True
    retail_portfolio_id: str = ""


class AccountsPage(Wire):
    accounts: list[Account] = []
    has_next: bool = False
    cursor: str = ""


# ------------------------------------------------------------------------------------------ products
class PerpetualDetails(Wire):
    open_interest: str = ""
    funding_rate: str = ""
    funding_time: str = ""
    max_leverage: str = ""
    funding_interval: str = ""


class FutureProductDetails(Wire):
    venue: str = ""
    contract_code: str = ""
    contract_size: str = ""
    contract_root_unit: str = ""
    contract_expiry_type: str = ""
    funding_interval: str = ""
    funding_rate: str = ""
    funding_time: str = ""
    open_interest: str = ""
    max_leverage: str = ""
    maintenance_margin_rate: str = ""
    perpetual_details: PerpetualDetails | None = None


class WireProduct(Wire):
    product_id: str
    price: str = ""
    base_increment: str = ""
    quote_increment: str = ""
    price_increment: str = ""
    base_min_size: str = ""
    base_max_size: str = ""
    quote_min_size: str = ""
    quote_max_size: str = ""
    base_currency_id: str = ""
    quote_currency_id: str = ""
    base_display_symbol: str = ""
    quote_display_symbol: str = ""
    product_type: str = "SPOT"
    status: str = ""
    is_disabled: bool = False
    trading_disabled: bool = False
    cancel_only: bool = False
    limit_only: bool = False
    post_only: bool = False
    view_only: bool = False
    alias_to: list[str] = []
    product_venue: str = ""
    mid_market_price: str = ""
    future_product_details: FutureProductDetails | None = None


class ProductsPage(Wire):
    products: list[WireProduct] = []
    num_products: int = 0


# --------------------------------------------------------------------------------------- market data
class PriceLevel(Wire):
    price: Decimal
    size: Decimal


class PriceBook(Wire):
    product_id: str = ""
    bids: list[PriceLevel] = []
    asks: list[PriceLevel] = []
    time: str = ""


class ProductBookResponse(Wire):
    pricebook: PriceBook = msgspec.field(default_factory=PriceBook)
    last: str = ""
    mid_market: str = ""


class BestBidAskResponse(Wire):
    pricebooks: list[PriceBook] = []


class WireCandle(Wire):
    start: str | int = ""
    low: str = ""
    high: str = ""
    open: str = ""
    close: str = ""
    volume: str = ""
    product_id: str = ""


class CandlesResponse(Wire):
    candles: list[WireCandle] = []


class WireTrade(Wire):
    trade_id: str = ""
    product_id: str = ""
    price: str = ""
    size: str = ""
    time: str = ""
    side: str = ""


class MarketTradesResponse(Wire):
    trades: list[WireTrade] = []
    best_bid: str = ""
    best_ask: str = ""


class ServerTime(Wire):
    iso: str = ""
    epochSeconds: str | int = ""
    epochMillis: str | int = ""


# -------------------------------------------------------------------------------------------- orders
class EditHistoryEntry(Wire):
    price: str = ""
    size: str = ""
    replace_accept_timestamp: str = ""


class WireOrder(Wire):
    order_id: str
    product_id: str = ""
    side: str = ""
    client_order_id: str = ""
    status: str = ""
    time_in_force: str = ""
    created_time: str = ""
    last_fill_time: str | None = None
    completion_percentage: str = ""
    filled_size: str = ""
    average_filled_price: str = ""
    number_of_fills: str | int = ""
    filled_value: str = ""
    total_fees: str = ""
    order_type: str = ""
    trigger_status: str = ""
    reject_reason: str = ""
    reject_message: str = ""
    cancel_message: str = ""
    pending_cancel: bool = False
    size_in_quote: bool = False
    order_configuration: dict[str, dict[str, Any]] = {}
    leverage: str = ""
    margin_type: str = ""
    product_type: str = ""
    edit_history: list[EditHistoryEntry] = []


class OrderResponse(Wire):
    order: WireOrder


class OrdersPage(Wire):
    orders: list[WireOrder] = []
    has_next: bool = False
    cursor: str = ""


class WireFill(Wire):
    entry_id: str = ""
    trade_id: str = ""
    order_id: str = ""
    trade_time: str = ""
    trade_type: str = "FILL"
    price: str = ""
    size: str = ""
    commission: str = ""
    product_id: str = ""
    sequence_timestamp: str = ""
    liquidity_indicator: str = ""
    size_in_quote: bool = False
    side: str = ""


class FillsPage(Wire):
    fills: list[WireFill] = []
    cursor: str = ""


class OrderSuccess(Wire):
    order_id: str = ""
    product_id: str = ""
    side: str = ""
    client_order_id: str = ""


class OrderError(Wire):
    error: str = ""
    message: str = ""
    error_details: str = ""
    preview_failure_reason: str = ""
    new_order_failure_reason: str = ""


class CreateOrderResponse(Wire):
    success: bool = False
    failure_reason: str = ""
    order_id: str = ""
    success_response: OrderSuccess | None = None
    error_response: OrderError | None = None


class CancelResult(Wire):
    success: bool = False
    failure_reason: str = ""
    order_id: str = ""


class CancelResponse(Wire):
    results: list[CancelResult] = []


class EditError(Wire):
    error_details: str = ""
    edit_order_failure_reason: str = ""
    edit_failure_reason: str = ""
    preview_failure_reason: str = ""


class EditResponse(Wire):
    success: bool = False
    success_response: OrderSuccess | None = None
    error_response: EditError | None = None
    errors: list[EditError] = []


class PreviewResponse(Wire):
    order_total: str = ""
    commission_total: str = ""
    errs: list[str] = []
    warning: list[str] = []
    quote_size: str = ""
    base_size: str = ""
    best_bid: str = ""
    best_ask: str = ""
    preview_id: str = ""
    leverage: str = ""
    slippage: str = ""


class EditPreviewResponse(Wire):
    errors: list[EditError] = []
    slippage: str = ""
    order_total: str = ""
    commission_total: str = ""
    quote_size: str = ""
    base_size: str = ""
    best_bid: str = ""
    average_filled_price: str = ""


# ------------------------------------------------------------------------------- fees, keys, portfolios
class FeeTier(Wire):
    pricing_tier: str = ""
    usd_from: str = ""
    usd_to: str = ""
    taker_fee_rate: str = ""
    maker_fee_rate: str = ""


class TransactionSummary(Wire):
    total_volume: float | str = 0
    total_fees: float | str = 0
    fee_tier: FeeTier = msgspec.field(default_factory=FeeTier)
    advanced_trade_only_volume: float | str = 0
    advanced_trade_only_fees: float | str = 0
    total_balance: str = ""


class KeyPermissions(Wire):
    can_view: bool = False
    can_trade: bool = False
    can_transfer: bool = False
    portfolio_uuid: str = ""
    portfolio_type: str = ""


class Portfolio(Wire):
    name: str = ""
    uuid: str = ""
    type: str = ""
    deleted: bool = False


class PortfoliosResponse(Wire):
    portfolios: list[Portfolio] = []


class PortfolioBreakdownResponse(Wire):
    breakdown: dict[str, Any] = {}


class PortfolioResponse(Wire):
    portfolio: Portfolio = msgspec.field(default_factory=Portfolio)


class MoveFundsResponse(Wire):
    source_portfolio_uuid: str = ""
    target_portfolio_uuid: str = ""


class PaymentMethod(Wire):
    id: str = ""
    type: str = ""
    name: str = ""
    currency: str = ""
    verified: bool = False
    allow_buy: bool = False
    allow_sell: bool = False
    allow_deposit: bool = False
    allow_withdraw: bool = False
    created_at: str = ""
    updated_at: str = ""


class PaymentMethodsResponse(Wire):
    payment_methods: list[PaymentMethod] = []


class PaymentMethodResponse(Wire):
    payment_method: PaymentMethod = msgspec.field(default_factory=PaymentMethod)


class ConvertFee(Wire):
    title: str = ""
    description: str = ""
    amount: Money = msgspec.field(default_factory=Money)
    label: str = ""


class ConvertTrade(Wire):
    """A convert quote / trade: `user_entered_amount` and `total` in the source currency, `amount` received."""

    id: str = ""
    status: str = ""
    user_entered_amount: Money = msgspec.field(default_factory=Money)
    amount: Money = msgspec.field(default_factory=Money)
    subtotal: Money = msgspec.field(default_factory=Money)
    total: Money = msgspec.field(default_factory=Money)
    fees: list[ConvertFee] = []
    total_fee: ConvertFee = msgspec.field(default_factory=ConvertFee)
    exchange_rate: Money = msgspec.field(default_factory=Money)
    source_currency: str = ""
    target_currency: str = ""
    source_id: str = ""
    target_id: str = ""
    cancellation_reason: dict[str, Any] | None = None


class ConvertTradeResponse(Wire):
    trade: ConvertTrade = msgspec.field(default_factory=ConvertTrade)


# --------------------------------------------------------------------------------------- INTX / CFM
class IntxPosition(Wire):
    product_id: str = ""
    symbol: str = ""
    portfolio_uuid: str = ""
    position_side: str = ""
    net_size: str = ""
    vwap: Money | None = None
    entry_vwap: Money | None = None
    mark_price: Money | None = None
    liquidation_price: Money | None = None
    unrealized_pnl: Money | None = None
    aggregated_pnl: Money | None = None
    #: [?] not in Coinbase's documented INTX position; the simulator sends it (cumulative, + = paid)
    funding_paid: Money | None = None
    leverage: str = ""
    margin_type: str = ""


class IntxPositionsResponse(Wire):
    positions: list[IntxPosition] = []
    summary: dict[str, Any] = {}


class IntxPortfolioResponse(Wire):
    portfolios: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}


class IntxAssetBalance(Wire):
    """One asset of an INTX portfolio; USDC is the perps' collateral (collateral_weight 1)."""

    asset: dict[str, Any] = {}
    quantity: str = ""
    hold: str = ""
    collateral_value: str = ""
    collateral_weight: str = ""
    max_withdraw_amount: str = ""


class IntxPortfolioBalances(Wire):
    portfolio_uuid: str = ""
    balances: list[IntxAssetBalance] = []
    is_margin_limit_reached: bool = False


class IntxBalancesResponse(Wire):
    portfolio_balances: list[IntxPortfolioBalances] = []


class CfmPosition(Wire):
    product_id: str = ""
    expiration_time: str = ""
    side: str = ""
    number_of_contracts: str = ""
    current_price: str = ""
    avg_entry_price: str = ""
    unrealized_pnl: str = ""
    daily_realized_pnl: str = ""


class CfmPositionsResponse(Wire):
    positions: list[CfmPosition] = []


class CfmBalanceSummaryResponse(Wire):
    balance_summary: dict[str, Any] = {}


# ------------------------------------------------------------------------------------------ WebSocket
class WsHeader(Wire):
    """Every frame: decoded first, `events` kept raw until the channel is known."""

    channel: str = ""
    type: str = ""
    message: str = ""
    timestamp: str = ""
    sequence_num: int = -1
    events: msgspec.Raw = msgspec.Raw(b"[]")


class L2Level(Wire):
    side: str
    price_level: Decimal
    new_quantity: Decimal
    event_time: str = ""


class L2Event(Wire):
    type: str = ""
    product_id: str = ""
    updates: list[L2Level] = []


class WsTicker(Wire):
    type: str = ""
    product_id: str = ""
    price: str = ""
    volume_24_h: str = ""
    best_bid: str = ""
    best_ask: str = ""
    best_bid_quantity: str = ""
    best_ask_quantity: str = ""


class TickerEvent(Wire):
    type: str = ""
    tickers: list[WsTicker] = []


class MarketTradesEvent(Wire):
    type: str = ""
    trades: list[WireTrade] = []


class CandlesEvent(Wire):
    type: str = ""
    candles: list[WireCandle] = []


class StatusProduct(Wire):
    id: str = ""
    product_type: str = ""
    base_currency: str = ""
    quote_currency: str = ""
    base_increment: str = ""
    quote_increment: str = ""
    status: str = ""
    status_message: str = ""


class StatusEvent(Wire):
    type: str = ""
    products: list[StatusProduct] = []


class HeartbeatEvent(Wire):
    current_time: str = ""
    heartbeat_counter: int | str = 0


class WsUserOrder(Wire):
    order_id: str
    client_order_id: str = ""
    product_id: str = ""
    product_type: str = ""
    order_side: str = ""
    order_type: str = ""
    status: str = ""
    time_in_force: str = ""
    avg_price: str = ""
    cumulative_quantity: str = ""
    leaves_quantity: str = ""
    filled_value: str = ""
    number_of_fills: str | int = ""
    limit_price: str = ""
    stop_price: str = ""
    total_fees: str = ""
    post_only: str | bool = ""
    trigger_status: str = ""
    reject_reason: str = ""
    cancel_reason: str = ""
    creation_time: str = ""
    end_time: str = ""


class UserEvent(Wire):
    type: str = ""
    orders: list[WsUserOrder] = []
