"""Several portfolios per account: create / rename / delete, and moving available funds between them.

Each portfolio has its own ledger in the MatchingEngine. The DEFAULT portfolio's ledger is the account
id itself, so orders, holds, fills, the accounts listing and the WS user channel are exactly what they
were with one portfolio. Other (CONSUMER) portfolios get the ledger id `"{account_id}/{uuid}"`.

Choices where Coinbase is silent ([?]):
- Names are unique per account, compared case-insensitively after trimming; 1..128 characters.
  A clash answers 409 ALREADY_EXISTS; an empty or too long name 400 INVALID_ARGUMENT.
- Deleting the DEFAULT portfolio, or one that still holds any balance, answers 400 FAILED_PRECONDITION.
  A deleted portfolio disappears from the listing; its uuid then answers 404 NOT_FOUND.
- move_funds: unknown portfolio 404 NOT_FOUND; same source and target, a malformed, non-positive or
  over-precise amount, or an unknown currency 400 INVALID_ARGUMENT; more than the source's AVAILABLE
  (held funds never move) 400 INSUFFICIENT_FUND. Amounts are exact Decimals, at most 8 decimals.
- The DEFAULT portfolio can be renamed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from gpt_trader.exchange_sim.schemas import RequestError
from gpt_trader.features.brokerages.core.interfaces import InsufficientFundsError, NotFoundError

if TYPE_CHECKING:
    from gpt_trader.exchange_sim.venue import SimVenue

DEFAULT_TYPE = "DEFAULT"
CONSUMER_TYPE = "CONSUMER"
PORTFOLIO_TYPES = ("UNDEFINED", DEFAULT_TYPE, CONSUMER_TYPE, "INTX")
MAX_NAME = 128
MAX_DECIMALS = 8


@dataclass
class SimPortfolio:
    uuid: str
    name: str
    type: str
    ledger_id: str
    created_at: dt.datetime
    deleted: bool = False

    @property
    def is_default(self) -> bool:
        return self.type == DEFAULT_TYPE

    def wire(self) -> dict[str, Any]:
        return {"name": self.name, "uuid": self.uuid, "type": self.type, "deleted": self.deleted}


def parse_amount(raw: object, field: str) -> Decimal:
    """A positive Decimal string with at most MAX_DECIMALS places; errors name the field."""
    if not isinstance(raw, str) or not raw.strip():
        raise RequestError(f"{field} must be a decimal string like '10.50', got {raw!r}")
    try:
        value = Decimal(raw.strip())
    except InvalidOperation as exc:
        raise RequestError(f"{field} must be a decimal string like '10.50', got {raw!r}") from exc
    if not value.is_finite():
        raise RequestError(f"{field} must be finite, got {raw!r}")
    if value <= 0:
        raise RequestError(f"{field} must be greater than 0, got {raw!r}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMALS:
        raise RequestError(f"{field} has more than {MAX_DECIMALS} decimal places: {raw!r}")
    return value


class PortfolioBook:
    def __init__(self, venue: SimVenue) -> None:
        self.venue = venue
        self._by_account: dict[str, dict[str, SimPortfolio]] = {}

    # ------------------------------------------------------------------------------- lookups
    def _own(self, account_id: str) -> dict[str, SimPortfolio]:
        book = self._by_account.get(account_id)
        if book is None:
            info = self.venue.account(account_id)
            default = SimPortfolio(
                uuid=info.portfolio_uuid,
                name="Default",
                type=DEFAULT_TYPE,
                ledger_id=account_id,
                created_at=self.venue.clock.start,
            )
            book = {default.uuid: default}
            self._by_account[account_id] = book
        return book

    def default(self, account_id: str) -> SimPortfolio:
        return next(p for p in self._own(account_id).values() if p.is_default)

    def listing(self, account_id: str, portfolio_type: str = "") -> list[SimPortfolio]:
        if portfolio_type and portfolio_type not in PORTFOLIO_TYPES:
            raise RequestError(f"portfolio_type must be one of {', '.join(PORTFOLIO_TYPES)}, got {portfolio_type!r}")
        out = [p for p in self._own(account_id).values() if not p.deleted]
        if portfolio_type and portfolio_type != "UNDEFINED":
            out = [p for p in out if p.type == portfolio_type]
        return out

    def get(self, account_id: str, portfolio_uuid: str) -> SimPortfolio:
        p = self._own(account_id).get(portfolio_uuid)
        if p is None or p.deleted:
            raise NotFoundError(f"portfolio {portfolio_uuid} not found", reason="NOT_FOUND")
        return p

    # ------------------------------------------------------------------------------ mutations
    def _check_name(self, account_id: str, name: str, *, exclude: str = "") -> str:
        clean = name.strip()
        if not clean or len(clean) > MAX_NAME:
            raise RequestError(f"name must be 1..{MAX_NAME} characters, got {name!r}")
        for p in self.listing(account_id):
            if p.uuid != exclude and p.name.casefold() == clean.casefold():
                raise RequestError(f"a portfolio named {clean!r} already exists", status=409, error="ALREADY_EXISTS")
        return clean

    def create(self, account_id: str, name: str) -> SimPortfolio:
        clean = self._check_name(account_id, name)
        pid = str(uuid.uuid4())
        p = SimPortfolio(
            uuid=pid,
            name=clean,
            type=CONSUMER_TYPE,
            ledger_id=f"{account_id}/{pid}",
            created_at=self.venue.now(),
        )
        self._own(account_id)[pid] = p
        return p

    def rename(self, account_id: str, portfolio_uuid: str, name: str) -> SimPortfolio:
        p = self.get(account_id, portfolio_uuid)
        p.name = self._check_name(account_id, name, exclude=p.uuid)
        return p

    def delete(self, account_id: str, portfolio_uuid: str) -> None:
        p = self.get(account_id, portfolio_uuid)
        if p.is_default:
            raise RequestError("the DEFAULT portfolio cannot be deleted", error="FAILED_PRECONDITION")
        held = [b for b in self.venue.engine.balances(p.ledger_id) if b.total != 0 or b.hold != 0]
        if held:
            listing = ", ".join(f"{b.total} {b.asset}" for b in held)
            raise RequestError(
                f"portfolio {p.uuid} still holds funds ({listing}); move them out before deleting",
                error="FAILED_PRECONDITION",
            )
        p.deleted = True

    def move_funds(self, account_id: str, value: object, currency: object, source: str, target: str) -> Decimal:
        """Move AVAILABLE balance between two of the account's portfolios; returns the amount moved."""
        amount = parse_amount(value, "funds.value")
        if not isinstance(currency, str) or not currency.strip():
            raise RequestError(f"funds.currency must be a currency code like 'USD', got {currency!r}")
        asset = currency.strip().upper()
        known = self.known_assets()
        if asset not in known:
            raise RequestError(f"funds.currency {currency!r} is not supported; allowed: {', '.join(known)}")
        if source == target:
            raise RequestError("source_portfolio_uuid and target_portfolio_uuid must differ")
        src = self.get(account_id, source)
        dst = self.get(account_id, target)
        available = self.venue.engine.balance(src.ledger_id, asset).available
        if available < amount:
            raise InsufficientFundsError(
                f"portfolio {src.uuid} has {available} {asset} available; cannot move {amount}",
                reason="INSUFFICIENT_FUND",
            )
        self.venue.ledger_transfer(src.ledger_id, asset, -amount)
        self.venue.ledger_transfer(dst.ledger_id, asset, amount)
        return amount

    def known_assets(self) -> list[str]:
        products = self.venue.products()
        return sorted({p.base_asset for p in products} | {p.quote_asset for p in products} | {"USD", "USDC"})

    # ---------------------------------------------------------------------------- wallets
    def wallet_owner(self, account_id: str, wallet_uuid: str) -> tuple[SimPortfolio, str]:
        """(portfolio, asset) for one of the account's wallet (account) uuids."""
        for p in self.listing(account_id):
            info = self.venue.account(p.ledger_id)
            for asset in self.known_assets():
                if info.wallet_uuid(asset) == wallet_uuid:
                    return p, asset
        raise NotFoundError(f"account {wallet_uuid} not found", reason="NOT_FOUND")
