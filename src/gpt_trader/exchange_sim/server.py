"""`ExchangeSimulator`: one aiohttp server with the Coinbase REST v3 API, both WS endpoints and the admin API.

In-process use (tests):

    async with ExchangeSimulator(seed=42, port=0, tls=True) as sim:
        sim.rest_url, sim.ws_url, sim.ws_user_url, sim.admin_url, sim.cdp_key.name ...
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import tempfile
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gpt_trader.exchange_sim.admin import AdminApi
from gpt_trader.exchange_sim.auth import (
    Authenticator,
    AuthFailure,
    CdpKey,
    HmacKey,
    KeyStore,
    generate_cdp_key,
    generate_hmac_key,
    load_cdp_key_file,
)
from gpt_trader.exchange_sim.faults import FaultInjector
from gpt_trader.exchange_sim.marketdata import MarketSource, ReplaySource
from gpt_trader.exchange_sim.ratelimit import FixedWindowLimiter
from gpt_trader.exchange_sim.replay import ReplaySeries, load_series
from gpt_trader.exchange_sim.rest import API, PRINCIPAL, RestApi, error_response
from gpt_trader.exchange_sim.schemas import RequestError
from gpt_trader.exchange_sim.tls import server_ssl_context, write_self_signed_cert
from gpt_trader.exchange_sim.v2 import V2Api
from gpt_trader.exchange_sim.venue import SimClock, SimVenue, VenueConfig
from gpt_trader.exchange_sim.ws import WsConfig, WsHub
from gpt_trader.features.brokerages.core.interfaces import (
    AuthError,
    BrokerageError,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    Product,
)
from gpt_trader.features.brokerages.core.matching import FeeSchedule, MatchingEngine
from gpt_trader.features.brokerages.core.products import default_products

if TYPE_CHECKING:
    from gpt_trader.features.brokerages.core.synthetic import SyntheticConfig

log = logging.getLogger(__name__)
DEFAULT_ACCOUNT = "sim-user-1"


def _default_funding() -> dict[str, Decimal]:
    """USD for spot and USDC, the INTX perps' collateral (perps are USDC-quoted, as on the venue)."""
    return {"USD": Decimal("100000"), "USDC": Decimal("100000")}


@dataclass
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 42
    #: replay files: "PATH" (drives BTC-USD) or "PRODUCT=PATH"
    data: list[str] = field(default_factory=list)
    speed: float = 1.0
    faults: str = ""
    tls: bool = False
    cdp_key_file: str | None = None
    cdp_key_type: str = "ec"
    hmac_key: str | None = None
    hmac_secret: str | None = None
    account_id: str = DEFAULT_ACCOUNT
    initial_funds: dict[str, Decimal] = field(default_factory=_default_funding)
    products: list[Product] | None = None
    fees: FeeSchedule | None = None
    #: 0 disables. [?] Coinbase: 30/s private per key, 10/s public per IP.
    rate_limit_private: int = 30
    rate_limit_public: int = 10
    tick_interval_s: float = 0.25
    start_time: dt.datetime | None = None
    synthetic: bool = True
    #: external book levels per side from the synthetic generator (cost per feed step grows with it)
    synthetic_levels: int = 25
    #: the synthetic generator's regimes and asset profiles (None: the defaults); `core.synthetic.still_config()`
    #: holds every price still until it is set (tests whose stops must not be crossed by a random move)
    synthetic_market: SyntheticConfig | None = None
    work_dir: str | None = None
    venue: VenueConfig = field(default_factory=VenueConfig)
    ws: WsConfig = field(default_factory=WsConfig)
    jwt_leeway_s: float = 5.0
    hmac_window_s: float = 30.0
    #: False: the account has no INTX (perps) access; INTX routes refuse, perp orders are rejected
    intx_access: bool = True
    #: how INTX routes refuse without access: "scopes" (403 Missing required scopes) | "not_found" (404)
    intx_denial: str = "scopes"


class ExchangeSimulator:
    """The whole venue. Attributes after `start()`: rest_url, ws_url, ws_user_url, admin_url, base_url
    (host:port, what the SDK's RESTClient wants), cert_path, cdp_key, hmac, account_id, engine, venue,
    faults, hub, clock."""

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any) -> None:
        cfg = config or SimulatorConfig()
        for key, value in overrides.items():
            if not hasattr(cfg, key):
                raise TypeError(f"unknown simulator option {key!r}; allowed: {', '.join(cfg.__dataclass_fields__)}")
            setattr(cfg, key, value)
        self.config = cfg
        self.account_id = cfg.account_id
        self.keys = KeyStore()
        if cfg.cdp_key_file:
            self.cdp_key: CdpKey = self.keys.add_cdp(load_cdp_key_file(cfg.cdp_key_file, account_id=cfg.account_id))
        else:
            self.cdp_key = self.keys.add_cdp(generate_cdp_key(cfg.cdp_key_type, account_id=cfg.account_id))
        if (cfg.hmac_key is None) != (cfg.hmac_secret is None):
            raise ValueError("hmac_key and hmac_secret must be given together")
        if cfg.hmac_key is not None and cfg.hmac_secret is not None:
            self.hmac: HmacKey = self.keys.add_hmac(
                HmacKey(key=cfg.hmac_key, secret=cfg.hmac_secret, account_id=cfg.account_id)
            )
        else:
            self.hmac = self.keys.add_hmac(generate_hmac_key(account_id=cfg.account_id))
        self.auth = Authenticator(
            self.keys,
            now=lambda: time.time() + self.clock.skew_s,  # a skewed venue judges JWT/HMAC times by its clock
            jwt_leeway_s=cfg.jwt_leeway_s,
            hmac_window_s=cfg.hmac_window_s,
        )
        self.products = cfg.products or default_products()
        series = self._load_data(cfg.data)
        start = cfg.start_time
        if start is None and series:
            first = min(s.start for s in series.values())
            span = min(s.end for s in series.values()) - first
            start = first + min(span / 2, dt.timedelta(days=1))
        self.clock = SimClock(start, cfg.speed)
        self.engine = MatchingEngine(
            self.products, fees=cfg.fees, clock=self.clock.now, seed=cfg.seed, book_events=False
        )
        self.faults = FaultInjector(seed=cfg.seed)
        sources: list[MarketSource] = []
        if series:
            sources.append(ReplaySource(series, seed=cfg.seed, levels=cfg.venue.book_depth))
        if cfg.synthetic:
            from gpt_trader.exchange_sim.synthetic_source import SyntheticSource

            sources.append(
                SyntheticSource(
                    self.products,
                    seed=cfg.seed,
                    levels=cfg.synthetic_levels,
                    start=self.clock.start,
                    config=cfg.synthetic_market,
                )
            )
        self.venue = SimVenue(self.engine, self.clock, self.faults, config=cfg.venue, sources=sources)
        self.hub = WsHub(self.venue, self.auth, self.faults, cfg.ws)
        self.venue.hub = self.hub
        self.venue.intx.configure(cfg.intx_access, cfg.intx_denial)
        self.private_limiter = FixedWindowLimiter(cfg.rate_limit_private)
        self.public_limiter = FixedWindowLimiter(cfg.rate_limit_public)
        self.rest = RestApi(self.venue)
        self.v2 = V2Api(self.venue)
        self.admin = AdminApi(self)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.cert_path: Path | None = None
        self.host = cfg.host
        self.port = cfg.port
        self.requests_served = 0
        #: "METHOD /path" -> API requests received, injected failures included
        self.requests_by_path: Counter[str] = Counter()
        self.rest_timings_ms: deque[float] = deque(maxlen=20_000)  # server-side handling time per request

    @staticmethod
    def _load_data(specs: list[str]) -> dict[str, ReplaySeries]:
        out: dict[str, ReplaySeries] = {}
        for spec in specs:
            symbol, sep, path = spec.partition("=")
            if not sep:
                symbol, path = "BTC-USD", spec
            out[symbol.strip()] = load_series(path.strip())
        return out

    # ---------------------------------------------------------------------------- lifecycle
    async def start(self) -> ExchangeSimulator:
        cfg = self.config
        if cfg.faults:
            self.faults.apply(cfg.faults)
        self.venue.seed_history()
        self.venue.step_market()
        for asset, amount in cfg.initial_funds.items():
            self.venue.fund(cfg.account_id, asset, Decimal(amount))
        app = web.Application(middlewares=[self._middleware], client_max_size=4 << 20)
        routes = self.rest.routes() + self.v2.routes()
        for method, path, handler, _public in routes:
            app.router.add_route(method, path, handler)
        self._public_paths = {(m, p) for m, p, _h, public in routes if public}
        app.router.add_get("/ws", self.hub.handler("market"))
        app.router.add_get("/ws/user", self.hub.handler("user"))
        self.admin.register(app)
        ssl_ctx = None
        if cfg.tls:
            directory = cfg.work_dir
            if directory is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="exchange-sim-")
                directory = self._tmp.name
            cert, key = write_self_signed_cert(directory, host=cfg.host)
            self.cert_path = cert
            ssl_ctx = server_ssl_context(cert, key)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.host, cfg.port, ssl_context=ssl_ctx, reuse_address=True)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._feed_loop(cfg.tick_interval_s)),
            loop.create_task(self._every(cfg.ws.heartbeat_interval_s, self._heartbeat)),
            loop.create_task(
                self._every(
                    cfg.venue.market_trades_batch_s,
                    lambda: self.venue.periodic_market_pushes("market_trades"),
                )
            ),
            loop.create_task(
                self._every(cfg.venue.ticker_batch_s, lambda: self.venue.periodic_market_pushes("ticker_batch"))
            ),
            loop.create_task(
                self._every(cfg.venue.candles_push_s, lambda: self.venue.periodic_market_pushes("candles"))
            ),
        ]
        return self

    def _heartbeat(self) -> None:
        self.hub.heartbeat_tick()
        self.hub.idle_check()
        self.faults.run_periodic()  # here too, so repeating faults fire even when the feed tick is slow

    async def _feed_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.venue.step_market_async()
            except Exception:
                log.exception("exchange_sim: market feed step failed")

    async def _every(self, interval: float, fn: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                fn()
            except Exception:
                log.exception("exchange_sim: periodic task %s failed", getattr(fn, "__name__", fn))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> ExchangeSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------------------------- urls
    @property
    def base_url(self) -> str:
        """host:port, the form the official SDK's RESTClient(base_url=...) takes."""
        return f"{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{'https' if self.config.tls else 'http'}://{self.base_url}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.config.tls else 'ws'}://{self.base_url}/ws"

    @property
    def ws_user_url(self) -> str:
        return f"{'wss' if self.config.tls else 'ws'}://{self.base_url}/ws/user"

    @property
    def admin_url(self) -> str:
        return f"{self.rest_url}/admin"

    def info(self) -> dict[str, Any]:
        """The JSON line the CLI prints once listening (it carries the accepted credentials)."""
        out: dict[str, Any] = {
            "rest_url": self.rest_url,
            "ws_url": self.ws_url,
            "ws_user_url": self.ws_user_url,
            "admin_url": self.admin_url,
            "cdp_key_name": self.cdp_key.name,
            "cdp_private_key": self.cdp_key.private_key,
            "hmac_key": self.hmac.key,
            "hmac_secret": self.hmac.secret,
        }
        if self.cert_path is not None:
            out["cert_path"] = str(self.cert_path)
        return out

    # ------------------------------------------------------------------------ conveniences
    def fund(self, asset: str, amount: Decimal | str | int, account_id: str | None = None) -> None:
        self.venue.fund(account_id or self.account_id, asset, Decimal(amount))

    def add_account_key(self, kind: str = "ec", account_id: str | None = None) -> CdpKey | HmacKey:
        """New credentials (for another account, or another key type for this one)."""
        acct = account_id or self.account_id
        if kind == "hmac":
            return self.keys.add_hmac(generate_hmac_key(account_id=acct))
        return self.keys.add_cdp(generate_cdp_key(kind, account_id=acct))

    # ---------------------------------------------------------------------------- middleware
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        if not (path.startswith(API) or path.startswith("/v2/")):
            return await handler(request)
        self.requests_served += 1
        started = time.perf_counter()
        try:
            return await self._serve_api(request, handler, path)
        finally:
            self.rest_timings_ms.append((time.perf_counter() - started) * 1000)

    async def _serve_api(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]], path: str
    ) -> web.StreamResponse:
        self.requests_by_path[f"{request.method} {path}"] += 1
        delay = self.faults.latency_s() + self.faults.take_slow_path(path)
        if delay:
            await asyncio.sleep(delay)
        retry_after: str | None = None
        outage = self.faults.take_outage()
        forced = self.faults.take_path_fault(path) if outage is None else outage[0]
        if outage is not None and outage[1] is not None:
            retry_after = outage[1]
        if forced is not None and forced != 429:
            failed = error_response(forced, "INTERNAL", f"injected server error on {path}")
            if retry_after is not None:
                failed.headers["Retry-After"] = retry_after
            return failed
        if forced == 429 or self.faults.take_429():
            headers = {
                "x-ratelimit-limit": str(self.private_limiter.limit),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(int(time.time()) + 1),
            }
            if retry_after is not None:
                headers["Retry-After"] = retry_after
            return web.Response(
                status=429,
                text="<html><body><h1>429 Too Many Requests</h1></body></html>",
                content_type="text/html",
                headers=headers,
            )
        server_error = self.faults.take_5xx()
        if server_error is not None and not server_error[1]:
            return error_response(server_error[0], "INTERNAL", "injected server error")
        route = request.match_info.route.resource
        if route is None:
            return error_response(404, "NOT_FOUND", f"no route {request.method} {path}")
        canonical = route.canonical
        public = (request.method, canonical) in self._public_paths
        body = await request.read()
        if public:
            decision = self.public_limiter.check(request.remote or "?")
        else:
            try:
                principal = self.auth.authenticate_rest(
                    request.method, path, request.headers, body, query=request.rel_url.raw_query_string
                )
            except AuthFailure as exc:
                log.info("exchange_sim: 401 %s %s (%s)", request.method, path, exc)
                return web.Response(status=401, text="Unauthorized", content_type="text/plain")
            request[PRINCIPAL] = principal
            decision = self.private_limiter.check(principal.key_id)
        if not decision.allowed:
            too_many = error_response(429, "RATE_LIMIT_EXCEEDED", "Too many requests")
            too_many.headers.update(decision.headers())
            return too_many
        try:
            response = await handler(request)
        except RequestError as exc:
            response = error_response(exc.status, exc.error, exc.details)
        except NotFoundError as exc:
            response = error_response(404, "NOT_FOUND", str(exc))
        except AuthError as exc:
            response = error_response(403, "PERMISSION_DENIED", str(exc))
        except (InvalidOrderError, InsufficientFundsError) as exc:
            response = error_response(400, exc.reason, str(exc))
        except BrokerageError as exc:
            response = error_response(400, exc.reason, str(exc))
        except web.HTTPException as exc:
            if exc.status == 404:
                response = error_response(404, "NOT_FOUND", f"no route {request.method} {path}")
            elif exc.status == 405:
                response = error_response(405, "METHOD_NOT_ALLOWED", f"{request.method} not allowed on {path}")
            else:
                raise
        if server_error is not None:
            return error_response(server_error[0], "INTERNAL", "injected server error (request was executed)")
        for key, value in decision.headers().items():
            response.headers[key] = value
        return response
