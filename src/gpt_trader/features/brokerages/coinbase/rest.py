"""Async REST v3 client: one keep-alive httpx client, signed requests, pacing, safe retries.

Retry rules (exactly-once, DESIGN §1.3):
- Failures before the request left (connect errors, pool timeouts) and 429s are retried for every call:
  the venue never saw them.
- Reads are also retried on timeouts, dropped connections and 5xx.
- Creates carry a `client_order_id`, so a repeat returns the first order instead of a second one: they
  are retried on 5xx with the SAME body. A timeout after send (or 5xx to the end) raises
  `AmbiguousOrderStateError`; the caller resolves it by client_order_id and never resends with a new id.
- Other writes (cancel, edit, close) are not retried after send; their errors surface typed.

The send path is kept short (the order's bytes leave sooner; `benchmarks/rest_transport_latency.py`), with
the same behaviour as the plain httpx path:
- The first attempt is a plain call; tenacity's machinery is entered only after a retryable failure, and
  replays that failure as its own attempt 1, so which errors retry, the waits and the stop are tenacity's
  exactly as if it had run the first attempt itself.
- With `LeanTransport` (chosen or given; httpx then uses no proxy either), a request whose path is plain,
  with no query and no cookies held, is handed straight to the transport as bytes (`LeanTransport.send`):
  the same request line and headers `httpx.AsyncClient` would build (Host, Content-Length, the client's
  defaults, the signer's), skipping its URL, header and cookie merging, event hooks, auth flow and redirect
  handling (none configured); its request log line is kept. Anything else goes through the client as before.
- Order creation (`POST /orders`) is signed ahead with a CDP key (`auth.CdpJwtSigner.presign`, each token
  used once); the stock is refilled from the event loop after each request returns and on a timer. A failed
  refill is counted (`errors.presign`), logged (its type and where it was raised, never its message: a
  crypto error may quote its input) and retried after a back-off (PRESIGN_RETRY_MIN_S doubling to
  PRESIGN_RETRY_MAX_S, reset by a success) that requests do not cut short; meanwhile orders sign on demand.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import ssl
import traceback
import urllib.request
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import msgspec
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from gpt_trader.features.brokerages.coinbase import models as m
from gpt_trader.features.brokerages.coinbase.auth import CdpJwtSigner, Signer
from gpt_trader.features.brokerages.coinbase.errors import error_for_http
from gpt_trader.features.brokerages.coinbase.lean_transport import LeanTransport
from gpt_trader.features.brokerages.coinbase.rate_limit import RateLimiter
from gpt_trader.features.brokerages.core.interfaces import (
    AmbiguousOrderStateError,
    AuthError,
    BrokerageError,
    RateLimitError,
    TransientError,
)
from gpt_trader.features.brokerages.core.startup_wait import StartupWait, waits_out
from gpt_trader.lean_imports import without_extras

with without_extras():  # httpx's own command line (click, rich, pygments) is not the bot's
    import httpx

log = logging.getLogger(__name__)
_httpx_log = logging.getLogger("httpx")  # the request line httpx.AsyncClient logs, kept on the direct path

API_PREFIX = "/api/v3/brokerage"
DEFAULT_BASE_URL = "https://api.coinbase.com"
CANDLES_MAX = 350
CANCEL_BATCH_MAX = 100  # [?] commonly cited; the simulator enforces it too
MAX_CONNECTIONS, MAX_KEEPALIVE, KEEPALIVE_EXPIRY_S = 20, 10, 60.0  # the pool, whichever transport
#: order-creation tokens kept signed ahead (CDP keys): one per order of a bar boundary where ten symbols trade
PRESIGN_DEPTH = 10
#: after a failed background signature, the next try waits this long (s), doubling per failure in a row up to
#: PRESIGN_RETRY_MAX_S; a success resets it. Orders sign on demand meanwhile, so a slow retry costs ~0.1 ms an order
PRESIGN_RETRY_MIN_S = 5.0
PRESIGN_RETRY_MAX_S = 60.0
T = TypeVar("T")
_encoder = msgspec.json.Encoder(decimal_format="string")
#: a path httpx would send unchanged: segments of unreserved characters, none empty, "." or ".."
_PLAIN_PATH = re.compile(r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._~-]+)+")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

READ, CREATE, WRITE = "read", "create", "write"


class _NotSent(TransientError):
    """The request never left (connect failure): safe to retry whatever it was."""


class _AfterSend(TransientError):
    """Sent, but no usable answer (timeout, dropped connection, 5xx): only idempotent calls retry."""


def _never_ran(exc: BrokerageError) -> bool:
    """The venue did not act on it: throttled (429) or never sent (connect failure)."""
    return isinstance(exc, RateLimitError) or exc.reason == "CONNECT"


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean(params: Mapping[str, Any] | None) -> list[tuple[str, str | int | float | bool | None]]:
    """Query params; lists become repeated keys (COINBASE.md §1); None/empty values are dropped."""
    out: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in (params or {}).items():
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, list | tuple):
            out.extend((key, str(v)) for v in value)
        elif isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        elif isinstance(value, datetime):
            out.append((key, _iso(value)))
        else:
            out.append((key, str(value)))
    return out


def _proxy_env() -> bool:
    """A proxy named in the environment (HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, any case), which httpx's
    own transport honours (trust_env) and LeanTransport does not."""
    return any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())


def _choose_transport(
    base_url: str,
    verify: bool | ssl.SSLContext,
    given: httpx.AsyncBaseTransport | None,
) -> tuple[httpx.AsyncBaseTransport | None, str]:
    """The caller's transport if given; httpx's default (None) when a proxy is configured, so it is never
    silently bypassed; else LeanTransport with the TLS verification httpx would have used."""
    if given is not None:
        return given, f"given:{type(given).__name__}"
    if _proxy_env():
        return None, "httpx-default (proxy set in the environment)"
    https = base_url.startswith("https:")
    # verify=True: certifi, or SSL_CERT_FILE / SSL_CERT_DIR when set (exactly httpx's own rule)
    ctx = (verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)) if https else None
    lean = LeanTransport(
        base_url,
        ssl_context=ctx,
        max_connections=MAX_CONNECTIONS,
        max_keepalive_connections=MAX_KEEPALIVE,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    return lean, "lean"


class CoinbaseRestClient:
    """Typed REST v3 calls returning `models` structs. Errors are `interfaces` BrokerageErrors."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        signer: Signer | None = None,
        *,
        limiter: RateLimiter | None = None,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        max_attempts: int = 4,
        verify: bool | ssl.SSLContext = True,
        transport: httpx.AsyncBaseTransport | None = None,
        presign_depth: int = PRESIGN_DEPTH,
        presign_retry_s: tuple[float, float] = (PRESIGN_RETRY_MIN_S, PRESIGN_RETRY_MAX_S),
        direct: bool = True,
    ) -> None:
        """`presign_depth`: order-creation tokens kept signed ahead with a CDP key (0: sign each on demand).
        `presign_retry_s`: (first, longest) wait before signing ahead is tried again after a failure.
        `direct`: hand plain requests straight to LeanTransport (False: always through httpx.AsyncClient,
        the path the direct one must match; for comparisons)."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"COINBASE_API_BASE_URL={base_url!r} must be an http(s) URL like https://api.coinbase.com")
        retry_min, retry_max = presign_retry_s
        if not 0 < retry_min <= retry_max or math.isinf(retry_max):
            raise ValueError(
                f"presign_retry_s={presign_retry_s!r} must be (first, longest) seconds with 0 < first <= longest < inf"
            )
        self.base_url = base_url.rstrip("/")
        self.host = parts.netloc
        self.signer = signer
        self.limiter = limiter or RateLimiter()
        self.max_attempts = max(1, max_attempts)
        self.counters: Counter[str] = Counter()
        #: set by the bot for start-up only (core/startup_wait.py): retryable failures are waited out
        self.startup_wait: StartupWait | None = None
        transport, self.transport_kind = _choose_transport(self.base_url, verify, transport)
        log.info("coinbase REST transport", extra={"transport": self.transport_kind})
        self._client = client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(
                max_keepalive_connections=MAX_KEEPALIVE,
                max_connections=MAX_CONNECTIONS,
                keepalive_expiry=KEEPALIVE_EXPIRY_S,
            ),
            headers={"Content-Type": "application/json", "User-Agent": "gpt-trader/0.1"},
            verify=verify,
            transport=transport,
        )
        #: the direct path (module docstring): the lean transport, with what httpx would add to each request
        self._direct: LeanTransport | None = None
        if direct and isinstance(transport, LeanTransport):  # a given transport: httpx adds no proxy either
            self._direct = transport
        base = client.base_url
        self._target_prefix = base.raw_path.rstrip(b"/")
        self._url_prefix = str(base).rstrip("/")
        self._host_header = (b"Host", base.netloc)
        self._default_headers = list(client.headers.raw)
        timeout = client.timeout
        self._timeouts = (timeout.pool, timeout.connect, timeout.write, timeout.read)
        #: the signer that signs order creation ahead (None: no CDP key, or depth 0)
        self._presigner: CdpJwtSigner | None = None
        self._presign_path = API_PREFIX + "/orders"
        #: the order-creation uri registered with a CDP signer (depth 0 too: its on-demand tokens are counted)
        self._presign_uri: str | None = None
        self._presign_timer: asyncio.TimerHandle | None = None
        self._presign_loop: asyncio.AbstractEventLoop | None = None
        self._presign_retry = (float(retry_min), float(retry_max))
        self._presign_wait = float(retry_min)  # the back-off the next failure waits
        self._presign_failures = 0  # in a row
        self._presign_not_before = -math.inf  # loop time before which no step runs (a back-off in force)
        if isinstance(signer, CdpJwtSigner):
            self._presign_uri = signer.presign("POST", self.host, self._presign_path, presign_depth)
            if presign_depth > 0:
                self._presigner = signer

    async def aclose(self) -> None:
        if self._presign_timer is not None:
            self._presign_timer.cancel()
            self._presign_timer = None
        self._presigner = None
        await self._client.aclose()

    # ------------------------------------------------------------------------------ signed ahead
    def presign_status(self) -> tuple[dict[str, int], int] | None:
        """The order-creation signer's counts (`CdpJwtSigner.presign_stats`: signed, used, retired,
        on_demand) and how many tokens are ready now; None without a CDP key."""
        signer, uri = self.signer, self._presign_uri
        if uri is None or not isinstance(signer, CdpJwtSigner):
            return None
        ready = signer.presigned(uri)  # first: it retires the stale ones, which the counts then include
        return dict(signer.presign_stats), ready

    def _presign_soon(self, delay: float = 0.0) -> None:
        """Run the signer's next presign step after `delay` s (sooner if one is already due earlier, never
        before a back-off after a failure ends)."""
        if self._presigner is None or math.isinf(delay):
            return
        loop = asyncio.get_running_loop()
        when = max(loop.time() + delay, self._presign_not_before)
        timer = self._presign_timer
        if timer is not None:
            # one already due as soon, on this loop (a timer left on a loop that ended would never run)
            if timer.when() <= when and not timer.cancelled() and self._presign_loop is loop:
                return
            timer.cancel()
        self._presign_timer = loop.call_at(when, self._presign_tick)
        self._presign_loop = loop

    def _presign_tick(self) -> None:
        """One signature of background work, then the next tick when the signer says it is due."""
        self._presign_timer = None
        signer = self._presigner
        if signer is None:
            return
        try:
            delay = signer.presign_step()
        except Exception as exc:  # orders sign on demand meanwhile (a key that stopped signing: they fail typed)
            self._presign_failed(exc)
            return
        if self._presign_failures:
            log.info(
                "coinbase: signing order tokens ahead works again after %d failure(s) in a row",
                self._presign_failures,
            )
            self._presign_failures = 0
            self._presign_wait = self._presign_retry[0]
            self._presign_not_before = -math.inf
        self._presign_soon(delay)

    def _presign_failed(self, exc: Exception) -> None:
        """Count and log a failed background signature; try again after the back-off (doubling, capped)."""
        self.counters["errors.presign"] += 1
        self._presign_failures += 1
        wait = self._presign_wait
        self._presign_wait = min(wait * 2, self._presign_retry[1])
        # the exception's type and where it was raised; never its message or a traceback, which may quote
        # the key material a crypto library was given
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno} in {frames[-1].name}" if frames else "?"
        log.warning(
            "coinbase: signing order tokens ahead (%s) failed: %s at %s; orders are signed on demand, "
            "retry in %.3g s (failure %d in a row)",
            self._presign_uri,
            type(exc).__name__,
            where,
            wait,
            self._presign_failures,
        )
        self._presign_not_before = asyncio.get_running_loop().time() + wait
        self._presign_soon(wait)

    # ----------------------------------------------------------------------------------- plumbing
    async def _once(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str | int | float | bool | None]],
        content: bytes,
        public: bool,
    ) -> bytes:
        await self.limiter.acquire(public)
        headers: dict[str, str] = {}
        if not public:
            if self.signer is None:
                raise AuthError(f"{method} {path} needs credentials; none are configured", reason="NO_CREDENTIALS")
            headers.update(self.signer.rest_headers(method, self.host, path, content))
        self.counters["requests"] += 1
        try:
            direct = self._direct
            if direct is not None and not params and _PLAIN_PATH.fullmatch(path) and not self._client.cookies:
                resp = await self._send_direct(direct, method, path, content, headers)
            else:
                resp = await self._client.request(method, path, params=params, content=content or None, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self.counters["errors.connect"] += 1
            raise _NotSent(f"{method} {path}: could not connect ({type(exc).__name__})", reason="CONNECT") from None
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            self.counters["errors.after_send"] += 1
            raise _AfterSend(f"{method} {path}: no reply ({type(exc).__name__})", reason="TIMEOUT") from None
        finally:  # the request is out (or failed): refill the tokens signed ahead, off its send path
            if self._presigner is not None and (self._presign_timer is None or path == self._presign_path):
                self._presign_soon()
        self.limiter.observe_headers(resp.headers, public)
        if resp.status_code < 300:
            self.limiter.on_success()
            return resp.content
        err = error_for_http(resp.status_code, resp.text, resp.headers, what=f"{method} {path}")
        self.counters[f"errors.http_{resp.status_code}"] += 1
        if isinstance(err, RateLimitError):
            delay = self.limiter.on_throttled(public, err.retry_after)
            self.counters["throttled"] += 1
            log.warning("coinbase rate limited", extra={"path": path, "backoff_s": round(delay, 3)})
            raise err
        if isinstance(err, TransientError):
            raise _AfterSend(str(err), reason=err.reason, retry_after=err.retry_after) from None
        raise err

    async def _send_direct(
        self, transport: LeanTransport, method: str, path: str, content: bytes, auth: Mapping[str, str]
    ) -> httpx.Response:
        """The request `httpx.AsyncClient.request` would send for a plain path with no query and no cookies,
        handed to the lean transport as bytes; the response is treated as the client treats it."""
        if self._client.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        headers = [self._host_header]
        if not content and method in _BODY_METHODS:
            headers.append((b"Content-Length", b"0"))  # httpx's own rule for a body-less POST/PUT/PATCH
        headers += self._default_headers
        headers += [(k.encode("ascii"), v.encode("ascii")) for k, v in auth.items()]
        if content:
            headers.append((b"Content-Length", str(len(content)).encode("ascii")))
        resp = await transport.send(
            method.encode("ascii"), self._target_prefix + path.encode("ascii"), headers, content, self._timeouts
        )
        if "set-cookie" in resp.headers:  # the client keeps cookies; the next request then goes through it
            resp.request = httpx.Request(method, self._url_prefix + path, headers=headers)
            self._client.cookies.extract_cookies(resp)
        if _httpx_log.isEnabledFor(logging.INFO):
            _httpx_log.info(
                'HTTP Request: %s %s "%s %d %s"',
                method,
                httpx.URL(self._url_prefix + path),
                resp.http_version,
                resp.status_code,
                resp.reason_phrase,
            )
        return resp

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        public: bool = False,
        kind: str = READ,
    ) -> bytes:
        """Send with pacing and the retry rules of the module docstring. `path` is below API_PREFIX.
        While a `startup_wait` is set, a failure those retries could not get past (429, 5xx, timeout,
        refused connection; never an ambiguous create or a definite refusal) is waited out within its
        budget, each wait counted (`startup_waits`)."""
        while True:
            try:
                return await self._request_retrying(method, path, params=params, body=body, public=public, kind=kind)
            except BrokerageError as exc:
                wait = self.startup_wait
                if wait is None or not waits_out(exc) or (kind == WRITE and not _never_ran(exc)):
                    raise  # a non-idempotent write that may have run is never repeated, start-up or not
                self.counters["startup_waits"] += 1
                await wait.pause(exc, f"{method} {path}")

    async def _request_retrying(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        body: Any,
        public: bool,
        kind: str,
    ) -> bytes:
        full = API_PREFIX + path
        content = _encoder.encode(body) if body is not None else b""
        q = _clean(params)

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, _NotSent | RateLimitError):
                return True
            return isinstance(exc, _AfterSend) and (kind == READ or (kind == CREATE and exc.reason != "TIMEOUT"))

        sent_ambiguously = False
        try:
            try:  # the plain first attempt: no retry machinery unless it fails retryably
                return await self._once(method, full, q, content, public)
            except (_NotSent, _AfterSend, RateLimitError) as exc:
                if not retryable(exc):
                    raise
                first: BrokerageError = exc
            sent_ambiguously = isinstance(first, _AfterSend)
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.max_attempts),
                wait=wait_random_exponential(multiplier=0.1, max=2.0),
                retry=retry_if_exception(retryable),
                reraise=True,
            ):
                with attempt:
                    if attempt.retry_state.attempt_number == 1:
                        raise first  # tenacity's attempt 1 is the one above: its stop, wait and retry rules
                    self.counters["retries"] += 1
                    try:
                        return await self._once(method, full, q, content, public)
                    except _AfterSend:
                        sent_ambiguously = True
                        raise
        except _AfterSend as exc:
            if kind == CREATE:
                self.counters["ambiguous_creates"] += 1
                raise AmbiguousOrderStateError(
                    f"{method} {path}: outcome unknown ({exc}); resolve by client_order_id",
                    reason="AMBIGUOUS",
                ) from None
            raise TransientError(str(exc), reason=exc.reason, retry_after=exc.retry_after) from None
        except _NotSent as exc:
            if kind == CREATE and sent_ambiguously:
                raise AmbiguousOrderStateError(
                    f"{method} {path}: outcome unknown ({exc}); resolve by client_order_id",
                    reason="AMBIGUOUS",
                ) from None
            raise TransientError(str(exc), reason=exc.reason) from None
        raise BrokerageError(f"{method} {path}: no attempt made")  # unreachable: stop_after_attempt >= 1

    async def _get(self, path: str, typ: type[T], params: Mapping[str, Any] | None = None, public: bool = False) -> T:
        raw = await self.request("GET", path, params=params, public=public)
        return self._decode(raw, typ, f"GET {path}")

    def _decode(self, raw: bytes, typ: type[T], what: str) -> T:
        try:
            return msgspec.json.decode(raw, type=typ)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.counters["errors.malformed"] += 1
            raise TransientError(f"{what}: malformed reply ({exc})", reason="MALFORMED") from None

    # ------------------------------------------------------------------------------- public data
    async def server_time(self) -> m.ServerTime:
        return await self._get("/time", m.ServerTime, public=True)

    async def list_products(self, product_type: str | None = None, *, public: bool = False) -> m.ProductsPage:
        prefix = "/market" if public else ""
        return await self._get(f"{prefix}/products", m.ProductsPage, {"product_type": product_type}, public)

    async def get_product(self, product_id: str, *, public: bool = False) -> m.WireProduct:
        prefix = "/market" if public else ""
        return await self._get(f"{prefix}/products/{product_id}", m.WireProduct, public=public)

    async def product_book(
        self, product_id: str, limit: int | None = None, *, public: bool = False
    ) -> m.ProductBookResponse:
        prefix = "/market" if public else ""
        params = {"product_id": product_id, "limit": limit}
        return await self._get(f"{prefix}/product_book", m.ProductBookResponse, params, public)

    async def best_bid_ask(self, product_ids: Sequence[str] = ()) -> m.BestBidAskResponse:
        return await self._get("/best_bid_ask", m.BestBidAskResponse, {"product_ids": list(product_ids)})

    async def candles(
        self,
        product_id: str,
        start: datetime,
        end: datetime,
        granularity: str,
        limit: int | None = None,
        *,
        public: bool = False,
    ) -> m.CandlesResponse:
        prefix = "/market" if public else ""
        params = {
            "start": str(int(start.timestamp())),
            "end": str(int(end.timestamp())),
            "granularity": granularity,
            "limit": limit,
        }
        return await self._get(f"{prefix}/products/{product_id}/candles", m.CandlesResponse, params, public)

    async def market_trades(self, product_id: str, limit: int = 100, *, public: bool = False) -> m.MarketTradesResponse:
        prefix = "/market" if public else ""
        return await self._get(
            f"{prefix}/products/{product_id}/ticker", m.MarketTradesResponse, {"limit": limit}, public
        )

    # ---------------------------------------------------------------------------------- accounts
    async def list_accounts(
        self, limit: int = 250, cursor: str | None = None, *, retail_portfolio_id: str | None = None
    ) -> m.AccountsPage:
        params = {"limit": limit, "cursor": cursor, "retail_portfolio_id": retail_portfolio_id}
        return await self._get("/accounts", m.AccountsPage, params)

    async def all_accounts(self, *, retail_portfolio_id: str | None = None) -> list[m.Account]:
        """Every wallet of one portfolio (the key's default portfolio when not given)."""
        out: list[m.Account] = []
        cursor: str | None = None
        while True:
            page = await self.list_accounts(cursor=cursor, retail_portfolio_id=retail_portfolio_id)
            out.extend(page.accounts)
            if not page.has_next or not page.cursor:
                return out
            cursor = page.cursor

    # ------------------------------------------------------------------------------------ orders
    async def create_order(self, body: dict[str, Any]) -> m.CreateOrderResponse:
        if not body.get("client_order_id"):
            raise ValueError("create_order body needs a client_order_id (idempotency key)")
        raw = await self.request("POST", "/orders", body=body, kind=CREATE)
        try:
            return self._decode(raw, m.CreateOrderResponse, "POST /orders")
        except TransientError as exc:  # sent, answer unreadable: the order may exist; resolve by client id
            raise AmbiguousOrderStateError(str(exc), reason="MALFORMED") from None

    async def preview_order(self, body: dict[str, Any]) -> m.PreviewResponse:
        payload = {k: v for k, v in body.items() if k != "client_order_id"}
        raw = await self.request("POST", "/orders/preview", body=payload, kind=READ)
        return self._decode(raw, m.PreviewResponse, "POST /orders/preview")

    async def cancel_orders(self, order_ids: Sequence[str]) -> m.CancelResponse:
        results: list[m.CancelResult] = []
        ids = list(order_ids)
        for i in range(0, len(ids), CANCEL_BATCH_MAX):
            raw = await self.request(
                "POST", "/orders/batch_cancel", body={"order_ids": ids[i : i + CANCEL_BATCH_MAX]}, kind=WRITE
            )
            results.extend(self._decode(raw, m.CancelResponse, "POST /orders/batch_cancel").results)
        return m.CancelResponse(results=results)

    async def edit_order(self, order_id: str, size: str | None = None, price: str | None = None) -> m.EditResponse:
        body = {"order_id": order_id, "size": size, "price": price}
        raw = await self.request("POST", "/orders/edit", body={k: v for k, v in body.items() if v}, kind=WRITE)
        return self._decode(raw, m.EditResponse, "POST /orders/edit")

    async def edit_order_preview(
        self, order_id: str, size: str | None = None, price: str | None = None
    ) -> m.EditPreviewResponse:
        body = {"order_id": order_id, "size": size, "price": price}
        raw = await self.request("POST", "/orders/edit_preview", body={k: v for k, v in body.items() if v})
        return self._decode(raw, m.EditPreviewResponse, "POST /orders/edit_preview")

    async def close_position(
        self, client_order_id: str, product_id: str, size: str | None = None
    ) -> m.CreateOrderResponse:
        body = {"client_order_id": client_order_id, "product_id": product_id, "size": size}
        raw = await self.request(
            "POST", "/orders/close_position", body={k: v for k, v in body.items() if v}, kind=CREATE
        )
        return self._decode(raw, m.CreateOrderResponse, "POST /orders/close_position")

    async def get_order(self, order_id: str) -> m.WireOrder:
        return (await self._get(f"/orders/historical/{order_id}", m.OrderResponse)).order

    async def list_orders(
        self,
        *,
        product_ids: Sequence[str] = (),
        order_status: Sequence[str] = (),
        order_ids: Sequence[str] = (),
        start_date: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> m.OrdersPage:
        params = {
            "product_ids": list(product_ids),
            "order_status": list(order_status),
            "order_ids": list(order_ids),
            "start_date": start_date,
            "limit": limit,
            "cursor": cursor,
        }
        return await self._get("/orders/historical/batch", m.OrdersPage, params)

    async def all_orders(self, *, max_pages: int = 50, **filters: Any) -> list[m.WireOrder]:
        out: list[m.WireOrder] = []
        cursor: str | None = None
        for _ in range(max_pages):
            page = await self.list_orders(cursor=cursor, **filters)
            out.extend(page.orders)
            if not page.has_next or not page.cursor:
                break
            cursor = page.cursor
        return out

    async def list_fills(
        self,
        *,
        order_ids: Sequence[str] = (),
        product_ids: Sequence[str] = (),
        start: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> m.FillsPage:
        params = {
            "order_ids": list(order_ids),
            "product_ids": list(product_ids),
            "start_sequence_timestamp": start,
            "limit": limit,
            "cursor": cursor,
        }
        return await self._get("/orders/historical/fills", m.FillsPage, params)

    async def all_fills(self, *, max_pages: int = 50, **filters: Any) -> list[m.WireFill]:
        out: list[m.WireFill] = []
        cursor: str | None = None
        for _ in range(max_pages):
            page = await self.list_fills(cursor=cursor, **filters)
            out.extend(page.fills)
            if not page.cursor:
                break
            cursor = page.cursor
        return out

    # ------------------------------------------------------------------ fees, keys, portfolios
    async def transaction_summary(self, product_type: str | None = None) -> m.TransactionSummary:
        return await self._get("/transaction_summary", m.TransactionSummary, {"product_type": product_type})

    async def key_permissions(self) -> m.KeyPermissions:
        return await self._get("/key_permissions", m.KeyPermissions)

    async def list_portfolios(self, portfolio_type: str | None = None) -> m.PortfoliosResponse:
        return await self._get("/portfolios", m.PortfoliosResponse, {"portfolio_type": portfolio_type})

    async def portfolio_breakdown(self, portfolio_uuid: str) -> m.PortfolioBreakdownResponse:
        return await self._get(f"/portfolios/{portfolio_uuid}", m.PortfolioBreakdownResponse)

    async def _send(self, method: str, path: str, typ: type[T], body: Any, kind: str) -> T:
        raw = await self.request(method, path, body=body, kind=kind)
        return self._decode(raw, typ, f"{method} {path}")

    async def create_portfolio(self, name: str) -> m.Portfolio:
        """Not retried after send: a lost reply may still have created it (look it up by name)."""
        return (await self._send("POST", "/portfolios", m.PortfolioResponse, {"name": name}, WRITE)).portfolio

    async def rename_portfolio(self, portfolio_uuid: str, name: str) -> m.Portfolio:
        resp = await self._send("PUT", f"/portfolios/{portfolio_uuid}", m.PortfolioResponse, {"name": name}, WRITE)
        return resp.portfolio

    async def delete_portfolio(self, portfolio_uuid: str) -> None:
        await self.request("DELETE", f"/portfolios/{portfolio_uuid}", kind=WRITE)

    async def move_portfolio_funds(
        self, value: Decimal | str, currency: str, source_portfolio_uuid: str, target_portfolio_uuid: str
    ) -> m.MoveFundsResponse:
        """Move available funds between two portfolios. Never retried after send (it is not idempotent)."""
        amount = format(value, "f") if isinstance(value, Decimal) else value
        body = {
            "funds": {"value": amount, "currency": currency},
            "source_portfolio_uuid": source_portfolio_uuid,
            "target_portfolio_uuid": target_portfolio_uuid,
        }
        return await self._send("POST", "/portfolios/move_funds", m.MoveFundsResponse, body, WRITE)

    async def list_payment_methods(self) -> list[m.PaymentMethod]:
        return (await self._get("/payment_methods", m.PaymentMethodsResponse)).payment_methods

    async def get_payment_method(self, payment_method_id: str) -> m.PaymentMethod:
        return (await self._get(f"/payment_methods/{payment_method_id}", m.PaymentMethodResponse)).payment_method

    async def create_convert_quote(self, from_account: str, to_account: str, amount: Decimal | str) -> m.ConvertTrade:
        """A quote moves nothing, so it is retried like a read (a repeat just makes another quote)."""
        value = format(amount, "f") if isinstance(amount, Decimal) else amount
        body = {"from_account": from_account, "to_account": to_account, "amount": value}
        return (await self._send("POST", "/convert/quote", m.ConvertTradeResponse, body, READ)).trade

    async def get_convert_trade(self, trade_id: str, from_account: str, to_account: str) -> m.ConvertTrade:
        params = {"from_account": from_account, "to_account": to_account}
        return (await self._get(f"/convert/trade/{trade_id}", m.ConvertTradeResponse, params)).trade

    async def commit_convert_trade(self, trade_id: str, from_account: str, to_account: str) -> m.ConvertTrade:
        """Never retried after send; after an unclear outcome, `get_convert_trade` tells whether it ran."""
        body = {"from_account": from_account, "to_account": to_account}
        return (await self._send("POST", f"/convert/trade/{trade_id}", m.ConvertTradeResponse, body, WRITE)).trade

    async def intx_portfolio(self, portfolio_uuid: str) -> m.IntxPortfolioResponse:
        return await self._get(f"/intx/portfolio/{portfolio_uuid}", m.IntxPortfolioResponse)

    async def intx_positions(self, portfolio_uuid: str) -> m.IntxPositionsResponse:
        return await self._get(f"/intx/positions/{portfolio_uuid}", m.IntxPositionsResponse)

    async def intx_balances(self, portfolio_uuid: str) -> m.IntxBalancesResponse:
        return await self._get(f"/intx/balances/{portfolio_uuid}", m.IntxBalancesResponse)

    async def cfm_balance_summary(self) -> m.CfmBalanceSummaryResponse:
        return await self._get("/cfm/balance_summary", m.CfmBalanceSummaryResponse)

    async def cfm_positions(self) -> m.CfmPositionsResponse:
        return await self._get("/cfm/positions", m.CfmPositionsResponse)


def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """The one TLS context the REST client and the WebSockets share: `ca_bundle` (a PEM of CAs) if given,
    else httpx's default trust store (certifi, or SSL_CERT_FILE / SSL_CERT_DIR when set)."""
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else httpx.create_ssl_context()
