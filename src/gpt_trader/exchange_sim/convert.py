"""Convert quotes and trades (`POST /convert/quote`, `GET|POST /convert/trade/{id}`) between two wallets
(account uuids) of the same portfolio.

Pricing: USD<->USDC at exactly 1:1; a crypto asset against USD/USDC (or another crypto, through USD)
at the engine's current mid of its `{ASSET}-USD` spot product.

Choices where Coinbase is silent ([?], `ConvertConfig`):
- Fee, charged in the source currency and taken out of the entered amount: 0 for USD<->USDC,
  1% (`crypto_fee_rate`) whenever a crypto asset is involved.
- A quote is valid for 30 simulated seconds; committing later answers 400 FAILED_PRECONDITION and the
  trade becomes TRADE_STATUS_CANCELED. Committing a completed trade again answers 400
  FAILED_PRECONDITION; nothing moves twice.
- Funds are checked (available, not held) at quote time and again at commit: 400 INSUFFICIENT_FUND.
- The received amount is rounded DOWN to 2 decimals for USD/USDC and 8 for crypto.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from gpt_trader.exchange_sim.portfolio_book import SimPortfolio, parse_amount
from gpt_trader.exchange_sim.schemas import RequestError
from gpt_trader.exchange_sim.wire import d, rfc3339
from gpt_trader.features.brokerages.core.interfaces import ZERO, InsufficientFundsError, NotFoundError

if TYPE_CHECKING:
    from gpt_trader.exchange_sim.venue import SimVenue

STABLE = frozenset({"USD", "USDC"})
CREATED, COMPLETED, CANCELED = "TRADE_STATUS_CREATED", "TRADE_STATUS_COMPLETED", "TRADE_STATUS_CANCELED"


@dataclass
class ConvertConfig:
    stable_fee_rate: Decimal = Decimal("0")
    crypto_fee_rate: Decimal = Decimal("0.01")
    quote_ttl_s: float = 30.0


@dataclass
class ConvertTrade:
    id: str
    account_id: str
    portfolio: SimPortfolio
    from_account: str
    to_account: str
    source: str
    target: str
    entered: Decimal
    fee: Decimal
    rate: Decimal
    received: Decimal
    created_at: dt.datetime
    expires_at: dt.datetime
    status: str = CREATED
    cancellation_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _places(asset: str) -> Decimal:
    return Decimal("0.01") if asset in STABLE else Decimal("0.00000001")


class ConvertDesk:
    def __init__(self, venue: SimVenue, config: ConvertConfig | None = None) -> None:
        self.venue = venue
        self.config = config or ConvertConfig()
        self._trades: dict[str, ConvertTrade] = {}

    def _usd_price(self, asset: str) -> Decimal:
        if asset in STABLE:
            return Decimal(1)
        symbol = f"{asset}-USD"
        if not self.venue.has_product(symbol) or self.venue.product(symbol).is_perpetual:
            raise RequestError(f"{asset} cannot be converted here: no {symbol} spot market")
        mid = self.venue.engine.mid(symbol) or self.venue.engine.last_price(symbol)
        if not mid:
            raise RequestError(f"{symbol} has no price right now; retry", error="UNAVAILABLE", status=503)
        return mid

    def quote(self, account_id: str, from_account: str, to_account: str, amount_raw: object) -> ConvertTrade:
        amount = parse_amount(amount_raw, "amount")
        if from_account == to_account:
            raise RequestError("from_account and to_account must differ")
        src_pf, source = self.venue.portfolios.wallet_owner(account_id, from_account)
        dst_pf, target = self.venue.portfolios.wallet_owner(account_id, to_account)
        if src_pf.uuid != dst_pf.uuid:
            raise RequestError("from_account and to_account must belong to the same portfolio")
        rate = self._usd_price(source) / self._usd_price(target)
        fee_rate = self.config.stable_fee_rate if {source, target} <= STABLE else self.config.crypto_fee_rate
        fee = (amount * fee_rate).quantize(_places(source), rounding=ROUND_DOWN)
        received = ((amount - fee) * rate).quantize(_places(target), rounding=ROUND_DOWN)
        if received <= 0:
            raise RequestError(f"amount {amount_raw!r} {source} is too small to convert into {target}")
        self._check_funds(src_pf, source, amount)
        now = self.venue.now()
        trade = ConvertTrade(
            id=str(uuid.uuid4()),
            account_id=account_id,
            portfolio=src_pf,
            from_account=from_account,
            to_account=to_account,
            source=source,
            target=target,
            entered=amount,
            fee=fee,
            rate=rate,
            received=received,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=self.config.quote_ttl_s),
        )
        self._trades[trade.id] = trade
        return trade

    def _check_funds(self, portfolio: SimPortfolio, asset: str, amount: Decimal) -> None:
        available = self.venue.engine.balance(portfolio.ledger_id, asset).available
        if available < amount:
            raise InsufficientFundsError(
                f"{available} {asset} available; converting {amount} needs more", reason="INSUFFICIENT_FUND"
            )

    def get(self, account_id: str, trade_id: str, from_account: str = "", to_account: str = "") -> ConvertTrade:
        trade = self._trades.get(trade_id)
        if (
            trade is None
            or trade.account_id != account_id
            or (from_account and from_account != trade.from_account)
            or (to_account and to_account != trade.to_account)
        ):
            raise NotFoundError(f"convert trade {trade_id} not found", reason="NOT_FOUND")
        return trade

    def commit(self, account_id: str, trade_id: str, from_account: str, to_account: str) -> ConvertTrade:
        trade = self.get(account_id, trade_id, from_account, to_account)
        if trade.status == COMPLETED:
            raise RequestError(f"convert trade {trade_id} was already committed", error="FAILED_PRECONDITION")
        if trade.status == CANCELED:
            raise RequestError(
                f"convert trade {trade_id} was canceled ({trade.cancellation_reason})", error="FAILED_PRECONDITION"
            )
        if self.venue.now() > trade.expires_at:
            trade.status = CANCELED
            trade.cancellation_reason = "QUOTE_EXPIRED"
            raise RequestError(f"convert quote {trade_id} expired; request a new quote", error="FAILED_PRECONDITION")
        self.venue.portfolios.get(account_id, trade.portfolio.uuid)
        self._check_funds(trade.portfolio, trade.source, trade.entered)
        ledger = trade.portfolio.ledger_id
        self.venue.ledger_transfer(ledger, trade.source, -trade.entered)
        self.venue.ledger_transfer(ledger, trade.target, trade.received)
        trade.status = COMPLETED
        return trade

    def wire(self, t: ConvertTrade) -> dict[str, Any]:
        def money(value: Decimal, currency: str) -> dict[str, str]:
            return {"value": d(value), "currency": currency}

        return {
            "id": t.id,
            "status": t.status,
            "user_entered_amount": money(t.entered, t.source),
            "amount": money(t.received, t.target),
            "subtotal": money(t.entered - t.fee, t.source),
            "total": money(t.entered, t.source),
            "fees": [
                {
                    "title": "Coinbase fee",
                    "description": "Conversion fee",
                    "amount": money(t.fee, t.source),
                    "label": "Coinbase fee",
                }
            ],
            "total_fee": {
                "title": "Coinbase fee",
                "description": "Total conversion fee",
                "amount": money(t.fee, t.source),
                "label": "Coinbase fee",
            },
            "source": {"type": "ACCOUNT", "network": "", "ledger_account": {"account_id": t.from_account}},
            "target": {"type": "ACCOUNT", "network": "", "ledger_account": {"account_id": t.to_account}},
            "unit_price": {
                "target_to_fiat": money(self._safe_usd(t.target), "USD"),
                "target_to_source": money((Decimal(1) / t.rate) if t.rate else ZERO, t.source),
                "source_to_fiat": money(self._safe_usd(t.source), "USD"),
            },
            "user_warnings": [],
            "user_reference": t.id[:8].upper(),
            "source_currency": t.source,
            "target_currency": t.target,
            "cancellation_reason": {"message": t.cancellation_reason} if t.cancellation_reason else None,
            "source_id": t.from_account,
            "target_id": t.to_account,
            "exchange_rate": money(t.rate, t.target),
            "total_fee_without_tax": {
                "title": "Coinbase fee",
                "description": "Total conversion fee",
                "amount": money(t.fee, t.source),
                "label": "Coinbase fee",
            },
            "fiat_denoted_total": money(t.entered * self._safe_usd(t.source), "USD"),
            "created_at": rfc3339(t.created_at),
            "expires_at": rfc3339(t.expires_at),
        }

    def _safe_usd(self, asset: str) -> Decimal:
        try:
            return self._usd_price(asset)
        except RequestError:
            return ZERO
