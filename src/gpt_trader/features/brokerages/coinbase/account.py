"""`CoinbaseAccountManager`: periodic account telemetry (balances, fee tier, limits, fees paid).

It only reads and returns a struct; the orchestrator persists it and exports metrics. Perps fields
(INTX portfolio summary, CFM balance summary) are filled when derivatives are enabled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.parsing import dec, dec0, intx_to_balances
from gpt_trader.features.brokerages.core.interfaces import Balance, BrokerageError, Position

log = logging.getLogger(__name__)


class FeeTierInfo(msgspec.Struct, frozen=True, kw_only=True):
    pricing_tier: str
    maker_fee_rate: Decimal
    taker_fee_rate: Decimal
    usd_from: Decimal | None = None
    usd_to: Decimal | None = None


class AccountLimits(msgspec.Struct, frozen=True, kw_only=True):
    can_view: bool
    can_trade: bool
    can_transfer: bool
    portfolio_uuid: str
    portfolio_type: str
    perps_enabled: bool
    private_rps: float
    public_rps: float
    throttled_total: int


class AccountSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    ts: datetime
    balances: tuple[Balance, ...]
    positions: tuple[Position, ...]
    fee_tier: FeeTierInfo | None
    total_volume_30d: Decimal
    total_fees_30d: Decimal  # fees paid, as the venue reports them
    limits: AccountLimits | None
    intx_summary: dict[str, Any] = {}
    intx_collateral: tuple[Balance, ...] = ()  # INTX portfolio balances: the perps' USDC collateral
    cfm_balance_summary: dict[str, Any] = {}
    errors: tuple[str, ...] = ()  # parts that could not be read this time (the rest is still valid)

    def to_builtins(self) -> dict[str, Any]:
        """JSON-ready dict; Decimals become strings (money never passes through float)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


class CoinbaseAccountManager:
    """Takes `snapshot()`s on demand or every `interval_s` in `run()`."""

    def __init__(self, broker: CoinbaseBroker, *, interval_s: float = 60.0) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.broker = broker
        self.interval_s = interval_s
        self.latest: AccountSnapshot | None = None
        self.failures = 0

    async def fee_tier(self) -> tuple[FeeTierInfo | None, Decimal, Decimal]:
        summary = await self.broker.rest.transaction_summary()
        ft = summary.fee_tier
        info = None
        if ft.pricing_tier or ft.taker_fee_rate:
            info = FeeTierInfo(
                pricing_tier=ft.pricing_tier,
                maker_fee_rate=dec0(ft.maker_fee_rate),
                taker_fee_rate=dec0(ft.taker_fee_rate),
                usd_from=dec(ft.usd_from),
                usd_to=dec(ft.usd_to),
            )
        return info, dec0(summary.total_volume), dec0(summary.total_fees)

    async def snapshot(self) -> AccountSnapshot:
        b = self.broker
        errors: list[str] = []
        balances: list[Balance] = []
        positions: list[Position] = []
        fee: FeeTierInfo | None = None
        volume = fees = Decimal(0)
        limits: AccountLimits | None = None
        intx: dict[str, Any] = {}
        collateral: list[Balance] = []
        cfm: dict[str, Any] = {}
        try:
            await b.recheck_intx()  # the periodic re-check while INTX access is unverified
        except BrokerageError as exc:
            errors.append(f"intx_recheck: {exc.reason}")
        try:
            balances = await b.list_balances()
            positions = await b.list_positions()
        except BrokerageError as exc:
            errors.append(f"balances: {exc.reason}")
        try:
            fee, volume, fees = await self.fee_tier()
        except BrokerageError as exc:
            errors.append(f"fee_tier: {exc.reason}")
        try:
            perms = await b.rest.key_permissions()
            limits = AccountLimits(
                can_view=perms.can_view,
                can_trade=perms.can_trade,
                can_transfer=perms.can_transfer,
                portfolio_uuid=perms.portfolio_uuid,
                portfolio_type=perms.portfolio_type,
                perps_enabled=b.perps_enabled,
                private_rps=b.rest.limiter.private.rate,
                public_rps=b.rest.limiter.public.rate,
                throttled_total=b.rest.limiter.throttled_total,
            )
        except BrokerageError as exc:
            errors.append(f"key_permissions: {exc.reason}")
        if b.perps_enabled and b.portfolio_uuid:
            try:
                intx = (await b.rest.intx_portfolio(b.portfolio_uuid)).summary
            except BrokerageError as exc:
                errors.append(f"intx_portfolio: {exc.reason}")
            try:
                collateral = intx_to_balances(await b.rest.intx_balances(b.portfolio_uuid))
            except BrokerageError as exc:
                errors.append(f"intx_balances: {exc.reason}")
            try:
                cfm = (await b.rest.cfm_balance_summary()).balance_summary
            except BrokerageError as exc:
                errors.append(f"cfm_balance_summary: {exc.reason}")
        snap = AccountSnapshot(
            ts=b.now(),
            # Coinbase lists a wallet for every asset it supports (hundreds, nearly all empty): a snapshot
            # with them was ~53 KB in the journal each interval and ~1 MB of churn in the bot.
            balances=tuple(x for x in balances if x.total != 0),
            positions=tuple(positions),
            fee_tier=fee,
            total_volume_30d=volume,
            total_fees_30d=fees,
            limits=limits,
            intx_summary=intx,
            intx_collateral=tuple(collateral),
            cfm_balance_summary=cfm,
            errors=tuple(errors),
        )
        self.latest = snap
        return snap

    async def run(self, on_snapshot: Callable[[AccountSnapshot], Awaitable[None] | None]) -> None:
        """Forever: snapshot, hand it over, sleep. A failing snapshot is logged and counted, never fatal."""
        while True:
            try:
                snap = await self.snapshot()
                if snap.errors:
                    self.failures += 1
                    log.warning("account snapshot partial: %s", "; ".join(snap.errors))
                res = on_snapshot(snap)
                if asyncio.iscoroutine(res):
                    await res
            except Exception:  # telemetry must never take the bot down
                self.failures += 1
                log.exception("account snapshot failed")
            await asyncio.sleep(self.interval_s)
