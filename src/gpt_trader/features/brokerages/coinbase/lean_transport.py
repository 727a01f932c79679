"""LeanTransport: a keep-alive HTTP/1.1 pool for one origin, under httpx, on asyncio streams and h11.

Why: httpcore's pool (anyio locks, many layers) is most of the time from calling the REST client to the
order's bytes reaching the socket. The REST client keeps httpx's API (`httpx.AsyncClient`) with this
transport below it, and hands its plain requests to `send` as bytes (the request httpx would have built),
which skips the client's per-request work as well. One origin per transport (the REST client talks to one
base URL); HTTP/1.1 only; the response body is read whole (no streaming).

Not sent vs sent (what `rest.py` `_once` builds its retry rules on):
- `httpx.PoolTimeout`, `httpx.ConnectTimeout` and `httpx.ConnectError` are raised ONLY before a single
  byte of the request was handed to any socket: while waiting for a pool slot, opening the TCP
  connection, or in the TLS handshake. `_once` treats them as "never left", so even a CREATE is retried.
- Once the request's bytes are handed to a connection (fresh or reused), every failure is one of
  `httpx.WriteError`, `httpx.WriteTimeout`, `httpx.ReadError`, `httpx.ReadTimeout` or
  `httpx.RemoteProtocolError`: "sent, no answer". That holds even where the bytes probably never left
  (asyncio drops writes to a transport the peer already reset): we cannot tell, so a CREATE becomes
  ambiguous and is resolved by its client_order_id, never resent under a new one.
- A reused keep-alive connection that the server closed while it sat idle is the classic trap: the
  close can race our write. Before writing we drop an idle connection whose reader saw EOF, whose
  transport is closing, or that received any byte while idle (a stale reply or garbage; it would be
  taken for this request's answer), and one idle longer than `keepalive_expiry`; dropping it sends
  nothing, so the request goes out on another connection with no error. If the close lands after that
  check, the request's bytes were written: the result is an after-send error (RemoteProtocolError /
  ReadError), never ConnectError. The transport never repeats a request on its own; `rest.py` decides.

A connection goes back to the pool (LIFO, so the warmest is used first) only after the whole response
was read and both h11 sides are DONE; any error or cancellation aborts it. At most `max_connections`
are open (idle + busy); a request waits for a slot at most the pool timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable

import h11

from gpt_trader.lean_imports import without_extras

with without_extras():
    import httpx

_READ_CHUNK = 65536
_DEFAULT_PORTS = {"http": 80, "https": 443}


class OriginMismatchError(ValueError):
    """A request for another scheme/host/port than the one origin this transport serves."""


class _Conn:
    """One keep-alive connection: asyncio streams plus its h11 state machine."""

    __slots__ = ("h11", "idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def reusable(self, now: float, expiry: float) -> bool:
        """Fit to carry a request: peer still there, nothing unread, not idle too long."""
        reader = self.reader
        return not (
            now - self.idle_since > expiry
            or self.writer.is_closing()
            or reader.at_eof()
            or reader.exception() is not None
            # StreamReader has no public "bytes buffered" query; any byte received while idle is a
            # stale reply or garbage that h11 would take for the next response.
            or len(getattr(reader, "_buffer", b""))
        )

    def abort(self) -> None:
        self.writer.transport.abort()


#: (pool, connect, write, read) seconds; None waits forever
Timeouts = tuple[float | None, float | None, float | None, float | None]


def _timeouts(request: httpx.Request) -> Timeouts:
    t: dict[str, float | None] = request.extensions.get("timeout", {})
    return t.get("pool"), t.get("connect"), t.get("write"), t.get("read")


class LeanTransport(httpx.AsyncBaseTransport):
    """httpx transport for one origin with far less per-request work than httpcore (order-path latency)."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 20,
        max_keepalive_connections: int = 10,
        keepalive_expiry: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in _DEFAULT_PORTS or not url.host:
            raise ValueError(f"LeanTransport base_url={base_url!r} must be an http(s) URL like https://host[:port]")
        if max_connections < 1 or max_keepalive_connections < 0 or keepalive_expiry < 0:
            raise ValueError(
                f"LeanTransport limits max_connections={max_connections} (>= 1), "
                f"max_keepalive_connections={max_keepalive_connections} (>= 0), "
                f"keepalive_expiry={keepalive_expiry} (>= 0) out of range"
            )
        self.scheme = url.scheme
        self.host = url.host
        self.port = url.port or _DEFAULT_PORTS[url.scheme]
        self.origin = f"{self.scheme}://{self.host}:{self.port}"
        if self.scheme == "https":
            if ssl_context is None:
                ssl_context = httpx.create_ssl_context()
            # what httpcore does today on the same (shared) context: HTTP/1.1 offered by ALPN
            ssl_context.set_alpn_protocols(["http/1.1"])
        self._ssl = ssl_context if self.scheme == "https" else None
        self.max_connections = max_connections
        self.max_keepalive = max_keepalive_connections
        self.keepalive_expiry = keepalive_expiry
        self._clock = clock
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Conn] = []
        self._busy: set[_Conn] = set()
        self._closed = False
        #: connections opened / requests served on a reused connection / idle ones dropped before use
        self.stats = {"opened": 0, "reused": 0, "discarded": 0}

    @property
    def open_connections(self) -> int:
        return len(self._idle) + len(self._busy)

    # ------------------------------------------------------------------------------------- request
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._check_origin(request.url)
        body = await request.aread()
        method = request.method.encode("ascii")
        return await self.send(method, request.url.raw_path, request.headers.raw, body, _timeouts(request), request)

    async def send(
        self,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: Timeouts,
        request: httpx.Request | None = None,
    ) -> httpx.Response:
        """One request to this transport's origin, given as bytes: `target` is the path and query, `headers`
        the complete header list (Host included), `timeouts` (pool, connect, write, read) in seconds. What
        `handle_async_request` does once it has taken an `httpx.Request` apart; the REST client's hot path
        calls it directly. `request`, when given, is attached to the response and to any error."""
        if self._closed:
            raise RuntimeError("LeanTransport is closed")
        pool_t, connect_t, write_t, read_t = timeouts
        await self._acquire_slot(pool_t)
        try:
            conn = self._take_idle() or await self._connect(connect_t)
        except BaseException:
            self._slots.release()
            raise
        self._busy.add(conn)
        try:
            response = await self._exchange(conn, method, target, headers, body, write_t, read_t, request)
        except BaseException:
            self._drop(conn)
            raise
        self._busy.discard(conn)
        self._park(conn)
        self._slots.release()
        return response

    def _check_origin(self, url: httpx.URL) -> None:
        port = url.port or _DEFAULT_PORTS.get(url.scheme)
        if url.scheme != self.scheme or url.host != self.host or port != self.port:
            raise OriginMismatchError(
                f"LeanTransport serves only {self.origin}; request for {url.scheme}://{url.host}:{port} "
                "(one transport per origin)"
            )

    async def _acquire_slot(self, pool_t: float | None) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free slot: returns without suspending
            return
        try:
            async with asyncio.timeout(pool_t):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(
                f"no free connection to {self.origin} within {pool_t}s (max_connections={self.max_connections})"
            ) from None

    def _take_idle(self) -> _Conn | None:
        now = self._clock()
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.reusable(now, self.keepalive_expiry):
                self.stats["reused"] += 1
                return conn
            self.stats["discarded"] += 1
            conn.abort()  # nothing of this request was written to it
        return None

    async def _connect(self, connect_t: float | None) -> _Conn:
        try:
            async with asyncio.timeout(connect_t):
                reader, writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                    limit=_READ_CHUNK,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connect to {self.origin} timed out after {connect_t}s") from None
        except (OSError, ssl.SSLError) as exc:  # refused, unreachable, DNS (gaierror), TLS failure
            raise httpx.ConnectError(f"connect to {self.origin} failed: {type(exc).__name__}: {exc}") from None
        self.stats["opened"] += 1
        return _Conn(reader, writer)

    async def _exchange(
        self,
        conn: _Conn,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        write_t: float | None,
        read_t: float | None,
        request: httpx.Request | None,
    ) -> httpx.Response:
        state = conn.h11
        try:
            parts = [state.send(h11.Request(method=method, target=target, headers=headers))]
            if body:
                parts.append(state.send(h11.Data(data=body)))
            parts.append(state.send(h11.EndOfMessage()))
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(f"{method.decode()} {target!r}: {exc}", request=request) from None
        # ---- from here on the request may have left: only after-send errors below ----
        writer = conn.writer
        try:
            writer.write(b"".join(p for p in parts if p))
            async with asyncio.timeout(write_t):
                await writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout(f"write to {self.origin} timed out after {write_t}s", request=request) from None
        except OSError as exc:
            raise httpx.WriteError(f"write to {self.origin} failed: {type(exc).__name__}", request=request) from None
        return await self._read_response(conn, request, read_t)

    async def _read_response(self, conn: _Conn, request: httpx.Request | None, read_t: float | None) -> httpx.Response:
        state = conn.h11
        reader = conn.reader
        head: h11.Response | None = None
        chunks: list[bytes] = []
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(f"{self.origin}: {exc}", request=request) from None
            if event is h11.NEED_DATA:
                try:
                    async with asyncio.timeout(read_t):
                        data = await reader.read(_READ_CHUNK)
                except TimeoutError:
                    raise httpx.ReadTimeout(f"no reply from {self.origin} within {read_t}s", request=request) from None
                except OSError as exc:
                    raise httpx.ReadError(
                        f"read from {self.origin} failed: {type(exc).__name__}", request=request
                    ) from None
                state.receive_data(data)  # b"" marks EOF; h11 then reports a cut-short message
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.InformationalResponse):
                continue
            else:  # ConnectionClosed or PAUSED where a response should be
                raise httpx.RemoteProtocolError(f"{self.origin}: unexpected {event!r}", request=request)
        assert head is not None  # h11 emits Response before EndOfMessage
        return httpx.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            content=b"".join(chunks),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": bytes(head.reason)},
        )

    # ------------------------------------------------------------------------------------ pooling
    def _park(self, conn: _Conn) -> None:
        """Back to the pool if both sides finished cleanly and keep-alive allows; otherwise closed."""
        state = conn.h11
        if (
            self._closed
            or state.our_state is not h11.DONE
            or state.their_state is not h11.DONE
            or len(self._idle) >= self.max_keepalive
            or state.trailing_data[0]  # bytes after the response: a stray reply that would answer the next
        ):
            conn.writer.close()
            return
        state.start_next_cycle()
        now = conn.idle_since = self._clock()
        idle = self._idle
        # LIFO leaves the oldest at the bottom: close those the peer dropped or that expired meanwhile
        while idle and not idle[0].reusable(now, self.keepalive_expiry):
            self.stats["discarded"] += 1
            idle.pop(0).abort()
        idle.append(conn)

    def _drop(self, conn: _Conn) -> None:
        self._busy.discard(conn)
        conn.abort()
        self._slots.release()

    async def aclose(self) -> None:
        self._closed = True
        conns = self._idle + list(self._busy)
        self._idle.clear()
        for conn in conns:
            conn.writer.close()
        for conn in conns:
            with contextlib.suppress(Exception, TimeoutError):
                async with asyncio.timeout(1.0):
                    await conn.writer.wait_closed()

    def __repr__(self) -> str:
        return f"LeanTransport({self.origin}, open={self.open_connections}/{self.max_connections})"
