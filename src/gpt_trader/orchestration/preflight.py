"""Preflight: everything an operator checks before a canary or production start, each a pass/warn/fail.

Keys load and sign; the venue accepts them and they can trade (transfer permission warns); the venue's
clock agrees with ours; every symbol is listed, online and tradable; INTX access when derivatives are
on; the balance covers the configured order sizes; the risk limits are sane; the store's schema and
`PRAGMA integrity_check`; disk space under `var/`; and a reconciliation dry run on a copy of the store.
Nothing here sends an order or changes the store.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from gpt_trader.features.brokerages.core.interfaces import ZERO, AuthError, BrokerageError, Product
from gpt_trader.orchestration.configuration import BotConfig, ConfigError, Credentials, load_symbol_limits

if TYPE_CHECKING:
    from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker

Status = Literal["pass", "warn", "fail"]
#: the venue's clock may differ from ours by this much before a warning / a failure (JWTs live 120 s)
SKEW_WARN_S = 5.0
SKEW_FAIL_S = 30.0
DISK_WARN_BYTES = 1 << 30
DISK_FAIL_BYTES = 100 << 20
STORE_COMPONENTS = ("orders_store", "event_store", "state_store")


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One preflight line: its name, pass/warn/fail, and what was found (never a secret)."""

    name: str
    status: Status
    detail: str


class Preflight:
    """Runs the checks for one profile; `run()` returns them in order (a failed key skips the venue)."""

    def __init__(self, config: BotConfig, credentials: Credentials) -> None:
        self.config = config
        self.credentials = credentials
        self.checks: list[Check] = []
        self._broker: CoinbaseBroker | None = None
        self._products: dict[str, Product] = {}
        self._equity: Decimal | None = None

    def _add(self, name: str, status: Status, detail: str) -> bool:
        self.checks.append(Check(name=name, status=status, detail=detail))
        return status != "fail"

    async def run(self) -> list[Check]:
        if self.config.broker != "coinbase":
            self._add("venue", "warn", f"profile uses the {self.config.broker} broker: venue checks skipped")
        elif self._keys():
            await self._venue()
        self._risk_limits()
        self._store()
        self._disk()
        if self.config.broker == "coinbase" and not self.failed:
            await self._reconciliation_dry_run()
        return self.checks

    @property
    def failed(self) -> bool:
        return any(c.status == "fail" for c in self.checks)

    # ------------------------------------------------------------------------------ venue
    def _keys(self) -> bool:
        from gpt_trader.features.brokerages.coinbase.auth import CredentialError
        from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
        from gpt_trader.features.brokerages.coinbase.config import CoinbaseSettings

        try:
            settings = CoinbaseSettings.from_bot_config(self.config, self.credentials)
            assert settings.signer is not None
            host = settings.api_base_url.split("://", 1)[-1].split("/", 1)[0]
            settings.signer.rest_headers("GET", host, "/api/v3/brokerage/key_permissions", b"")
        except CredentialError as exc:  # its messages name variables, never their values
            return self._add("keys", "fail", f"credentials do not load: {exc}")
        except Exception as exc:  # anything else from a key library: its type only (it may quote the key)
            return self._add("keys", "fail", f"credentials do not load/sign: {type(exc).__name__}")
        self._broker = CoinbaseBroker(settings)
        return self._add("keys", "pass", f"{settings.signer.kind} key loads and signs")

    async def _venue(self) -> None:
        broker = self._broker
        assert broker is not None
        try:
            await self._clock(broker)
            if await self._permissions(broker):
                await broker.connect()
                await self._symbols(broker)
                await self._intx(broker)
                await self._balances(broker)
        except BrokerageError as exc:
            self._add("venue", "fail", f"venue error {type(exc).__name__} ({exc.reason}): {exc}")
        finally:
            await broker.close()

    async def _guarded(self, name: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await fn()
        except AuthError as exc:
            self._add(name, "fail", f"the venue refused the credentials ({exc.reason}): {exc}")
            return None
        except BrokerageError as exc:
            self._add(name, "fail", f"venue error {type(exc).__name__} ({exc.reason}): {exc}")
            return None

    async def _clock(self, broker: CoinbaseBroker) -> None:
        from gpt_trader.features.brokerages.coinbase.parsing import parse_time

        before = datetime.now(UTC)
        st = await self._guarded("clock_skew", broker.rest.server_time)
        if st is None:
            return
        after = datetime.now(UTC)
        venue = parse_time(st.iso) if st.iso else None
        if venue is None:
            self._add("clock_skew", "fail", f"venue /time answered no usable time ({st.iso!r})")
            return
        skew = (venue - (before + (after - before) / 2)).total_seconds()
        status: Status = "pass" if abs(skew) <= SKEW_WARN_S else ("warn" if abs(skew) <= SKEW_FAIL_S else "fail")
        self._add(
            "clock_skew",
            status,
            f"venue clock {'ahead of' if skew >= 0 else 'behind'} ours by {abs(skew):.1f}s "
            f"(warn > {SKEW_WARN_S:.0f}s, fail > {SKEW_FAIL_S:.0f}s: signed requests expire)",
        )

    async def _permissions(self, broker: CoinbaseBroker) -> bool:
        perms = await self._guarded("key_permissions", broker.rest.key_permissions)
        if perms is None:
            return False
        if not perms.can_trade:
            return self._add("key_permissions", "fail", "the key cannot trade (can_trade=false)")
        if perms.can_transfer:
            return self._add(
                "key_permissions", "warn", "the key can transfer funds (can_transfer=true): a trading key needs not"
            )
        return self._add("key_permissions", "pass", f"can_trade, no transfer (portfolio {perms.portfolio_type})")

    async def _symbols(self, broker: CoinbaseBroker) -> None:
        products = {p.symbol: p for p in await broker.list_products()}
        for sym in self.config.symbols:
            product = products.get(sym)
            if product is None:
                self._add(f"symbol {sym}", "fail", "not listed by the venue")
            elif product.trading_disabled or product.cancel_only:
                self._add(f"symbol {sym}", "fail", "listed but not tradable (offline, disabled or cancel-only)")
            else:
                self._products[sym] = product
                self._add(f"symbol {sym}", "pass", "listed, online, tradable")

    async def _intx(self, broker: CoinbaseBroker) -> None:
        if not self.config.coinbase.enable_derivatives:
            self._add("intx", "pass", "derivatives disabled by the profile: not needed")
            return
        outcome, reason = await broker.intx.probe()
        status: Status = {"yes": "pass", "no": "fail"}.get(outcome, "warn")  # type: ignore[assignment]
        self._add("intx", status, f"INTX access {outcome}" + (f" ({reason})" if reason else ""))

    async def _balances(self, broker: CoinbaseBroker) -> None:
        balances = await self._guarded("balances", broker.list_balances)
        if balances is None or not self._products:
            return
        quote = {p.quote_asset for p in self._products.values()}
        available = sum((b.available for b in balances if b.asset in quote), ZERO)
        self._equity = sum((b.total for b in balances if b.asset in quote), ZERO)
        sizing = self.config.sizing
        needs: dict[str, Decimal] = {}
        for sym, product in self._products.items():
            quote_px = (await broker.get_quote(sym)).ask
            size = sizing.sizes.get(sym, sizing.default_size)
            if sizing.method == "fixed_size" and size is not None:
                if size < product.base_min_size:
                    self._add(f"size {sym}", "fail", f"size {size} is below the venue minimum {product.base_min_size}")
                needs[sym] = size * quote_px
            elif sizing.method == "fixed_notional" and sizing.notional is not None:
                needs[sym] = sizing.notional
            elif sizing.fraction is not None:
                needs[sym] = sizing.fraction * available
        if not needs:
            self._add("balances", "pass", f"{available:.2f} {'/'.join(sorted(quote))} available")
            return
        largest, total = max(needs.values()), sum(needs.values(), ZERO)
        detail = f"{available:.2f} available; largest order {largest:.2f}, one of each {total:.2f}"
        if available < largest:
            self._add("balances", "fail", detail + ": not enough for one order")
        elif available < total:
            self._add("balances", "warn", detail + ": not enough for an order on every symbol")
        else:
            self._add("balances", "pass", detail)

    # ------------------------------------------------------------------------------ local
    def _risk_limits(self) -> None:
        risk = self.config.risk
        try:
            limits = load_symbol_limits(risk)
        except ConfigError as exc:
            self._add("risk_limits", "fail", str(exc))
            return
        problems: list[str] = []
        warnings: list[str] = []
        for sym in self.config.symbols:
            lim = limits.get(sym)
            if lim is None or (lim.max_notional is None and lim.max_position_size is None):
                problems.append(f"{sym} has no position cap (max_notional / max_position_size)")
            product = self._products.get(sym)
            if product is not None and product.is_perpetual and risk.max_leverage > product.max_leverage:
                problems.append(f"max_leverage {risk.max_leverage} > venue max {product.max_leverage} for {sym}")
        if not Decimal(0) < risk.max_daily_loss_pct < Decimal(100):
            problems.append(f"max_daily_loss_pct {risk.max_daily_loss_pct} must be above 0 and below 100")
        if self._equity is not None and risk.max_daily_loss_usd is not None and risk.max_daily_loss_usd >= self._equity:
            problems.append(f"max_daily_loss_usd {risk.max_daily_loss_usd} is not below equity {self._equity:.2f}")
        if not self._products and self.config.broker == "coinbase":
            warnings.append("venue limits not compared (no product data)")
        if problems:
            self._add("risk_limits", "fail", "; ".join(problems))
        else:
            caps = f"caps on {len(self.config.symbols)} symbols, daily loss {risk.max_daily_loss_pct}%"
            self._add("risk_limits", "warn" if warnings else "pass", "; ".join([caps, *warnings]))

    def _store(self) -> None:
        path = self.config.store_dir / "bot.sqlite3"
        if not path.is_file():
            self._add("store", "warn", f"{path} does not exist yet (created on the first run)")
            return
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            try:
                verdict = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
                versions = dict(conn.execute("SELECT component, version FROM schema_versions").fetchall())
            finally:
                conn.close()
        except sqlite3.Error as exc:
            self._add("store", "fail", f"{path}: {type(exc).__name__}: {exc}")
            return
        if verdict != ["ok"]:
            self._add("store", "fail", f"{path}: integrity_check: {'; '.join(verdict[:3])}")
            return
        missing = [c for c in STORE_COMPONENTS if c not in versions]
        if missing:
            self._add("store", "fail", f"{path}: schema incomplete, no version for {missing}")
            return
        shown = ", ".join(f"{c} v{versions[c]}" for c in STORE_COMPONENTS)
        self._add("store", "pass", f"integrity ok; schema {shown}")

    def _disk(self) -> None:
        root = Path(self.config.data_root).resolve()
        probe = next((p for p in (root, *root.parents) if p.exists()), Path("/"))
        free = shutil.disk_usage(probe).free
        status: Status = "pass" if free >= DISK_WARN_BYTES else ("warn" if free >= DISK_FAIL_BYTES else "fail")
        self._add("disk", status, f"{free / (1 << 30):.1f} GiB free under {probe}")

    async def _reconciliation_dry_run(self) -> None:
        """Reconcile a copy of the store with the exchange: what a start would find, changing nothing."""
        from gpt_trader.orchestration.reconcile_cli import reconcile_once
        from gpt_trader.orchestration.reconciliation import ReconciliationRefusedError
        from gpt_trader.orchestration.service_registry import build_registry

        with tempfile.TemporaryDirectory(prefix="preflight-") as tmp:
            copy_config = msgspec.structs.replace(self.config, data_root=tmp)
            source = self.config.store_dir / "bot.sqlite3"
            if source.is_file():
                copy_config.store_dir.mkdir(parents=True, exist_ok=True)
                with (
                    sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src,
                    sqlite3.connect(copy_config.store_dir / "bot.sqlite3") as dst,
                ):
                    src.backup(dst)
            registry = build_registry(copy_config, self.credentials, fresh_store=False, arm_triggers=False)
            try:
                report = await reconcile_once(registry, copy_config.reconciliation, accept_exchange=False)
            except ReconciliationRefusedError as exc:
                diffs = "; ".join(d.describe() for d in exc.report.mismatches)
                self._add("reconciliation", "fail", f"a start would refuse to trade: {diffs}")
                return
            except BrokerageError as exc:
                self._add("reconciliation", "fail", f"venue error {type(exc).__name__}: {exc}")
                return
            finally:
                if registry.db is not None:
                    registry.db.close()
        kinds = ", ".join(f"{k} x{report.count(k)}" for k in sorted({c.kind for c in report.corrections}))
        self._add("reconciliation", "pass", "store and exchange agree" + (f" ({kinds})" if kinds else ""))
