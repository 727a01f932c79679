"""Coinbase account, portfolio, INTX and CFM views of the engine's per-account ledger.

Pure read-side shaping: every figure comes from the MatchingEngine; nothing here moves money.
INTX figures (positions, margin, PnL, collateral) are in the perps' quote currency, USDC, as on the venue;
portfolio totals are in USD with USDC counted through `interfaces.to_usd` (1:1).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gpt_trader.exchange_sim.wire import NS, d, rfc3339
from gpt_trader.features.brokerages.core.interfaces import (
    PERP_QUOTE,
    ZERO,
    Balance,
    Position,
    Product,
    to_usd,
)

if TYPE_CHECKING:
    from gpt_trader.exchange_sim.portfolio_book import SimPortfolio
    from gpt_trader.exchange_sim.venue import SimVenue


def _wallet_view(bal: Balance) -> Balance:
    """A collateral wallet as `/accounts` shows it: available + hold == the ledger total (a client reads
    that sum as the balance), available = the free collateral but never more than the total (unrealized
    gains cannot be withdrawn), hold = the rest (order holds, initial margin, unrealized losses)."""
    available = min(bal.available, bal.total) if bal.total > 0 else ZERO
    return Balance(asset=bal.asset, total=bal.total, available=available, hold=bal.total - available)


class PortfolioViews:
    """Coinbase-shaped read views (wallets, breakdown, INTX, CFM) over one venue's engine ledger."""

    def __init__(self, venue: SimVenue) -> None:
        self.venue = venue

    def _collateral(self) -> frozenset[str]:
        """The assets that margin perps: the perps' quote currencies (USDC on INTX)."""
        return frozenset(p.quote_asset for p in self.venue.products() if p.is_perpetual)

    def _cash_usd(self, balances: dict[str, Balance]) -> Decimal:
        """USD cash plus perp collateral (USDC), in USD."""
        assets = {"USD"} | self._collateral()
        return sum((to_usd(balances[a].total, a) for a in sorted(assets) if a in balances), ZERO)

    def wire_accounts(self, account_id: str, portfolio: SimPortfolio | None = None) -> list[dict[str, Any]]:
        """Wallets of one portfolio (the DEFAULT one unless given); each portfolio is its own ledger."""
        pf = portfolio or self.venue.portfolios.default(account_id)
        ledger = pf.ledger_id
        info = self.venue.account(ledger)
        balances = {b.asset: b for b in self.venue.engine.balances(ledger)}
        assets = sorted(
            {p.base_asset for p in self.venue.products()}
            | {p.quote_asset for p in self.venue.products()}
            | set(balances)
        )
        created = rfc3339(self.venue.clock.start)
        collateral = self._collateral()
        out = []
        for asset in assets:
            bal = balances.get(asset, Balance(asset=asset, total=ZERO, available=ZERO))
            if asset in collateral:
                bal = _wallet_view(bal)
            fiat = asset in ("USD", "EUR", "GBP")
            out.append(
                {
                    "uuid": info.wallet_uuid(asset),
                    "name": f"{asset} Wallet",
                    "currency": asset,
                    "available_balance": {"value": d(bal.available), "currency": asset},
                    "default": asset == "USD",
                    "active": True,
                    "created_at": created,
                    "updated_at": created,
                    "deleted_at": None,
                    "type": "ACCOUNT_TYPE_FIAT" if fiat else "ACCOUNT_TYPE_CRYPTO",
                    "ready": True,
                    "hold": {"value": d(bal.hold), "currency": asset},
                    "retail_portfolio_id": pf.uuid,
                    "platform": "ACCOUNT_PLATFORM_CONSUMER",
                }
            )
        return out

    def transaction_summary(self, account_id: str) -> dict[str, Any]:
        tier = self.venue.engine.fee_tier(account_id)
        fills = self.venue.engine.list_fills(account_id)
        volume = self.venue.engine.thirty_day_volume(account_id)
        fees = sum((f.fee for f in fills), ZERO)
        return {
            "total_volume": float(volume),
            "total_fees": float(fees),
            "fee_tier": {
                "pricing_tier": tier.name,
                "usd_from": d(tier.usd_from),
                "usd_to": d(tier.usd_to) if tier.usd_to is not None else "",
                "taker_fee_rate": d(tier.taker_fee_rate),
                "maker_fee_rate": d(tier.maker_fee_rate),
                "aop_from": "",
                "aop_to": "",
            },
            "margin_rate": None,
            "goods_and_services_tax": None,
            "advanced_trade_only_volume": float(volume),
            "advanced_trade_only_fees": float(fees),
            "coinbase_pro_volume": 0,
            "coinbase_pro_fees": 0,
            "total_balance": d(self._total_usd(account_id)),
            "has_promo_fee": False,
        }

    def _total_usd(self, account_id: str) -> Decimal:
        """Cash (USD + USDC collateral) plus perps unrealized PnL, in USD (spot holdings not included)."""
        balances = {b.asset: b for b in self.venue.engine.balances(account_id)}
        upnl = sum(
            (
                to_usd(p.unrealized_pnl, self.venue.product(p.symbol).quote_asset)
                for p in self.venue.engine.positions(account_id)
                if self.venue.product(p.symbol).is_perpetual
            ),
            ZERO,
        )
        return self._cash_usd(balances) + upnl

    def portfolio_wire(self, account_id: str) -> dict[str, Any]:
        return self.venue.portfolios.default(account_id).wire()

    def _money(self, value: Decimal, currency: str = "USD") -> dict[str, str]:
        return {"value": d(value), "currency": currency}

    def portfolio_breakdown(self, account_id: str, portfolio: SimPortfolio | None = None) -> dict[str, Any]:
        pf = portfolio or self.venue.portfolios.default(account_id)
        account_id = pf.ledger_id
        positions = self.venue.engine.positions(account_id)
        balances = {b.asset: b for b in self.venue.engine.balances(account_id)}
        cash = self._cash_usd(balances)
        spot_value = sum(
            (p.size * p.mark_price for p in positions if not self.venue.product(p.symbol).is_perpetual), ZERO
        )
        upnl = sum(
            (
                to_usd(p.unrealized_pnl, self.venue.product(p.symbol).quote_asset)
                for p in positions
                if self.venue.product(p.symbol).is_perpetual
            ),
            ZERO,
        )
        return {
            "portfolio": pf.wire(),
            "portfolio_balances": {
                "total_balance": self._money(cash + spot_value + upnl),
                "total_futures_balance": self._money(ZERO),
                "total_cash_equivalent_balance": self._money(cash),
                "total_crypto_balance": self._money(spot_value),
                "futures_unrealized_pnl": self._money(ZERO),
                "perp_unrealized_pnl": self._money(upnl),
            },
            "spot_positions": [
                {
                    "asset": self.venue.product(p.symbol).base_asset,
                    "account_uuid": self.venue.account(account_id).wallet_uuid(self.venue.product(p.symbol).base_asset),
                    "total_balance_fiat": float(p.size * p.mark_price),
                    "total_balance_crypto": float(p.size),
                    "available_to_trade_fiat": float(p.size * p.mark_price),
                    "allocation": 0,
                    "cost_basis": self._money(p.size * p.entry_price),
                    "is_cash": False,
                }
                for p in positions
                if not self.venue.product(p.symbol).is_perpetual
            ],
            "perp_positions": self.intx_positions(account_id),
            "futures_positions": [],
        }

    def intx_positions(self, account_id: str) -> list[dict[str, Any]]:
        out = []
        for p in self.venue.engine.positions(account_id):
            product = self.venue.product(p.symbol)
            if not product.is_perpetual:
                continue
            out.append(self._intx_position(account_id, p, product))
        return out

    def _intx_position(self, account_id: str, p: Position, product: Product) -> dict[str, Any]:
        notional = abs(p.size) * p.mark_price
        im = notional / (p.leverage or Decimal(1))
        ccy = product.quote_asset
        return {
            "product_id": str(uuid.uuid5(NS, f"perp/{p.symbol}")),
            "product_uuid": str(uuid.uuid5(NS, f"perp/{p.symbol}")),
            "portfolio_uuid": self.venue.portfolio_uuid(account_id),
            "symbol": p.symbol,
            "vwap": self._money(p.entry_price, ccy),
            "entry_vwap": self._money(p.entry_price, ccy),
            "position_side": "POSITION_SIDE_LONG" if p.size > 0 else "POSITION_SIDE_SHORT",
            "margin_type": "MARGIN_TYPE_CROSS",
            "net_size": d(p.size),
            "buy_order_size": "0",
            "sell_order_size": "0",
            "im_contribution": d(im.quantize(product.quote_increment)),
            "unrealized_pnl": self._money(p.unrealized_pnl.quantize(product.quote_increment), ccy),
            "mark_price": self._money(p.mark_price, ccy),
            "liquidation_price": self._money(p.liquidation_price or ZERO, ccy),
            "leverage": d(p.leverage),
            "im_notional": self._money(im.quantize(product.quote_increment), ccy),
            "mm_notional": self._money(
                (notional * product.maintenance_margin_rate).quantize(product.quote_increment), ccy
            ),
            "position_notional": self._money(notional.quantize(product.quote_increment), ccy),
            "aggregated_pnl": self._money((p.unrealized_pnl + p.realized_pnl).quantize(product.quote_increment), ccy),
            # [?] Coinbase documents no funding field on INTX positions; this extension carries the
            # cumulative funding settled on the position (positive = paid by the account).
            "funding_paid": self._money(p.funding_paid, ccy),
        }

    def intx_summary(self, account_id: str) -> dict[str, Any]:
        """The INTX portfolio summary, in the collateral currency (USDC): equity = collateral + upnl."""
        equity = self.venue.engine.equity(account_id)
        positions = [p for p in self.venue.engine.positions(account_id) if self.venue.product(p.symbol).is_perpetual]
        upnl = sum((p.unrealized_pnl for p in positions), ZERO)
        notional = sum((abs(p.size) * p.mark_price for p in positions), ZERO)
        im = sum((abs(p.size) * p.mark_price / (p.leverage or 1) for p in positions), ZERO)
        mm = sum(
            (abs(p.size) * p.mark_price * self.venue.product(p.symbol).maintenance_margin_rate for p in positions),
            ZERO,
        )
        q = Decimal("0.01")
        return {
            "portfolio_uuid": self.venue.portfolio_uuid(account_id),
            "collateral": d(equity.quantize(q)),
            "position_notional": d(notional.quantize(q)),
            "open_position_notional": d(notional.quantize(q)),
            "pending_fees": "0",
            "borrow": "0",
            "accrued_interest": "0",
            "rolling_debt": "0",
            "portfolio_initial_margin": d(im.quantize(q)),
            "portfolio_im_notional": self._money(im.quantize(q), PERP_QUOTE),
            "portfolio_maintenance_margin": d(mm.quantize(q)),
            "portfolio_mm_notional": self._money(mm.quantize(q), PERP_QUOTE),
            "liquidation_percentage": "0",
            "liquidation_buffer": d((equity - mm).quantize(q)),
            "margin_type": "MARGIN_TYPE_CROSS",
            "margin_flags": "",
            "liquidation_status": "",
            "unrealized_pnl": self._money(upnl.quantize(q), PERP_QUOTE),
            "total_balance": self._money(equity.quantize(q), PERP_QUOTE),
            "buying_power": self._money(max(equity - im, ZERO).quantize(q), PERP_QUOTE),
        }

    def intx_balances(self, account_id: str) -> dict[str, Any]:
        """INTX portfolio balances: the collateral asset (USDC) carries collateral value and weight 1."""
        balances = self.venue.engine.balances(account_id)
        collateral = self._collateral()
        return {
            "portfolio_uuid": self.venue.portfolio_uuid(account_id),
            "balances": [
                {
                    "asset": {
                        "asset_id": b.asset,
                        "asset_uuid": str(uuid.uuid5(NS, b.asset)),
                        "asset_name": b.asset,
                        "status": "ACTIVE",
                        "collateral_weight": "1" if b.asset in collateral else "0",
                        "account_collateral_limit": "",
                        "ecosystem_collateral_limit_breached": False,
                        "asset_icon_url": "",
                        "supported_networks_enabled": False,
                    },
                    "quantity": d(b.total),
                    "hold": d(b.hold),
                    "transfer_hold": "0",
                    "collateral_value": d(b.total) if b.asset in collateral else "0",
                    "collateral_weight": "1" if b.asset in collateral else "0",
                    "max_withdraw_amount": d(b.available),
                    "loan": "0",
                    "loan_collateral_requirement_usd": "0",
                    "pledged_quantity": "0",
                }
                for b in balances
            ],
            "is_margin_limit_reached": False,
        }

    def futures_balance_summary(self, account_id: str) -> dict[str, Any]:
        s = self.intx_summary(account_id)
        usd = self.venue.engine.balance(account_id, "USD")
        return {
            "futures_buying_power": s["buying_power"],
            "total_usd_balance": self._money(usd.total),
            "cbi_usd_balance": self._money(usd.total),
            "cfm_usd_balance": self._money(ZERO),
            "total_open_orders_hold_amount": self._money(usd.hold),
            "unrealized_pnl": s["unrealized_pnl"],
            "daily_realized_pnl": self._money(ZERO),
            "initial_margin": self._money(Decimal(s["portfolio_initial_margin"])),
            "available_margin": s["buying_power"],
            "liquidation_threshold": self._money(Decimal(s["portfolio_maintenance_margin"])),
            "liquidation_buffer_amount": self._money(Decimal(s["liquidation_buffer"])),
            "liquidation_buffer_percentage": "0",
        }

    def user_positions(self, account_id: str) -> dict[str, Any]:
        perps = []
        for p in self.venue.engine.positions(account_id):
            if not self.venue.product(p.symbol).is_perpetual:
                continue
            perps.append(
                {
                    "product_id": p.symbol,
                    "portfolio_uuid": self.venue.portfolio_uuid(account_id),
                    "vwap": d(p.entry_price),
                    "entry_vwap": d(p.entry_price),
                    "position_side": "Long" if p.size > 0 else "Short",
                    "margin_type": "Cross",
                    "net_size": d(p.size),
                    "buy_order_size": "0",
                    "sell_order_size": "0",
                    "leverage": d(p.leverage),
                    "mark_price": d(p.mark_price),
                    "liquidation_price": d(p.liquidation_price or ZERO),
                    "im_notional": d(abs(p.size) * p.mark_price / (p.leverage or 1)),
                    "mm_notional": d(abs(p.size) * p.mark_price * self.venue.product(p.symbol).maintenance_margin_rate),
                    "position_notional": d(abs(p.size) * p.mark_price),
                    "unrealized_pnl": d(p.unrealized_pnl),
                    "aggregated_pnl": d(p.unrealized_pnl + p.realized_pnl),
                    "funding_paid": d(p.funding_paid),  # [?] extension, as on the REST position
                }
            )
        return {"perpetual_futures_positions": perps, "expiring_futures_positions": []}
