"""WebSocket endpoints with Coinbase's framing rules (COINBASE.md §3).

- a subscribe must arrive within `subscribe_timeout_s` of connecting, or the socket is closed;
- one channel per (un)subscribe message; every one is answered by a `subscriptions` frame listing
  everything the connection is subscribed to;
- ONE `sequence_num` counter per connection, shared by all channels and acks;
- JWT in each subscribe for `user` / `futures_balance_summary` (checked whenever present);
- sockets idle (nothing sent) for `idle_timeout_s` are closed, as Coinbase closes quiet channels.

Data comes from a `WsDataSource` (the simulator venue); producers call `publish_*` on the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
from aiohttp import WSMsgType, web

from gpt_trader.exchange_sim.auth import Authenticator, AuthFailure, Principal
from gpt_trader.exchange_sim.faults import FaultInjector
from gpt_trader.exchange_sim.wire import rfc3339_ns

log = logging.getLogger(__name__)

MARKET_CHANNELS = frozenset(
    {
        "heartbeats",
        "ticker",
        "ticker_batch",
        "level2",
        "market_trades",
        "candles",
        "status",
        "user",
        "futures_balance_summary",
    }
)
USER_ENDPOINT_CHANNELS = frozenset({"heartbeats", "user", "futures_balance_summary"})
PRIVATE_CHANNELS = frozenset({"user", "futures_balance_summary"})
PRODUCT_CHANNELS = frozenset({"ticker", "ticker_batch", "level2", "market_trades", "candles"})
#: The `channel` field data frames carry (level2 publishes as l2_data).
FRAME_CHANNEL = {"level2": "l2_data"}

_encoder = msgspec.json.Encoder()


class WsDataSource(Protocol):
    def has_product(self, product_id: str) -> bool: ...

    def product_ids(self) -> list[str]: ...

    def snapshot_events(
        self, channel: str, product_ids: list[str], principal: Principal | None
    ) -> list[dict[str, Any]]: ...

    def user_uuid(self, account_id: str) -> str: ...

    def now(self) -> dt.datetime: ...


@dataclass
class WsConnection:
    ws: web.WebSocketResponse
    transport: Any
    endpoint: str  # market | user
    conn_id: int
    seq: int = 0
    subscriptions: dict[str, set[str]] = field(default_factory=dict)
    principal: Principal | None = None
    #: (frame channel, pre-encoded events array); channel "error" carries a whole pre-encoded frame
    queue: asyncio.Queue[tuple[str, bytes] | None] = field(default_factory=asyncio.Queue)
    last_sent: float = field(default_factory=time.monotonic)
    heartbeat_counter: int = 0
    subscribed_once: bool = False
    sent_frames: int = 0

    def next_seq(self) -> int:
        n = self.seq
        self.seq += 1
        return n

    def wants(self, channel: str, product_id: str | None) -> bool:
        subs = self.subscriptions.get(channel)
        if subs is None:
            return False
        if product_id is None or channel in ("heartbeats", "status"):
            return True
        if channel in PRIVATE_CHANNELS and not subs - {"*"}:
            return True
        return product_id in subs


@dataclass
class WsConfig:
    subscribe_timeout_s: float = 5.0
    idle_timeout_s: float = 90.0
    heartbeat_interval_s: float = 1.0
    max_queue: int = 10_000


class WsHub:
    """All open sockets, their subscriptions, and fan-out of frames to them."""

    def __init__(
        self,
        source: WsDataSource,
        auth: Authenticator,
        faults: FaultInjector,
        config: WsConfig | None = None,
    ) -> None:
        self.source = source
        self.auth = auth
        self.faults = faults
        self.config = config or WsConfig()
        self.connections: dict[int, WsConnection] = {}
        self._next_id = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.malformed_messages = 0
        faults.ws_action = self.fault_action
        self._stopping = False

    # ------------------------------------------------------------------------------- handlers
    def handler(self, endpoint: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, endpoint)

        return handle

    async def _serve(self, request: web.Request, endpoint: str) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 20, compress=False)
        await ws.prepare(request)
        self._next_id += 1
        conn = WsConnection(ws=ws, transport=request.transport, endpoint=endpoint, conn_id=self._next_id)
        self.connections[conn.conn_id] = conn
        writer = asyncio.create_task(self._writer(conn))
        deadline = asyncio.get_running_loop().call_later(
            self.config.subscribe_timeout_s, self._enforce_subscribe_deadline, conn
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_message(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._malformed(conn, "binary frame")
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            deadline.cancel()
            self.connections.pop(conn.conn_id, None)
            conn.queue.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        return ws

    def _enforce_subscribe_deadline(self, conn: WsConnection) -> None:
        if not conn.subscribed_once and not conn.ws.closed:
            self._spawn(conn.ws.close(code=1000, message=b"subscribe timeout"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _malformed(self, conn: WsConnection, what: str) -> None:
        self.malformed_messages += 1
        log.warning("ws conn %s: malformed client message (%s)", conn.conn_id, what)
        self.send_error(conn, "failure to subscribe")

    async def _on_message(self, conn: WsConnection, text: str) -> None:
        try:
            msg = msgspec.json.decode(text)
        except msgspec.DecodeError:
            self._malformed(conn, "not JSON")
            return
        if not isinstance(msg, dict):
            self._malformed(conn, "not an object")
            return
        mtype = msg.get("type")
        if mtype not in ("subscribe", "unsubscribe"):
            self._malformed(conn, f"type {mtype!r}")
            return
        channel = msg.get("channel")
        if not isinstance(channel, str):
            # Coinbase takes exactly one channel per message; a `channels` list is refused.
            self.send_error(conn, "failure to subscribe")
            return
        allowed = USER_ENDPOINT_CHANNELS if conn.endpoint == "user" else MARKET_CHANNELS
        if channel not in allowed:
            self.send_error(conn, "authentication failure")
            return
        raw_ids = msg.get("product_ids", [])
        if not isinstance(raw_ids, list) or not all(isinstance(p, str) for p in raw_ids):
            self.send_error(conn, "failure to subscribe")
            return
        product_ids: list[str] = list(dict.fromkeys(raw_ids))
        principal = self._ws_principal(conn, msg, channel, product_ids)
        if principal is False:
            self.send_error(conn, "authentication failure")
            return
        if channel in PRIVATE_CHANNELS and not isinstance(principal, Principal):
            # a JWT is needed in every subscribe to a private channel, not just the first
            self.send_error(conn, "authentication failure")
            return
        if isinstance(principal, Principal):
            conn.principal = principal
        unknown = [p for p in product_ids if not self.source.has_product(p)]
        if unknown:
            self.send_error(conn, "failure to subscribe")
            return
        if mtype == "subscribe":
            if channel in PRODUCT_CHANNELS and not product_ids:
                self.send_error(conn, "failure to subscribe")
                return
            self._subscribe(conn, channel, product_ids)
        else:
            self._unsubscribe(conn, channel, product_ids)

    def _ws_principal(
        self, conn: WsConnection, msg: dict[str, Any], channel: str, product_ids: list[str]
    ) -> Principal | bool | None:
        """Principal from this message's credentials; False when they are present but bad."""
        token = msg.get("jwt")
        try:
            if isinstance(token, str) and token:
                return self.auth.verify_jwt(token)
            if isinstance(msg.get("api_key"), str):
                return self.auth.verify_ws_hmac(
                    msg["api_key"],
                    str(msg.get("timestamp", "")),
                    str(msg.get("signature", "")),
                    channel,
                    product_ids,
                )
        except AuthFailure as exc:
            log.info("ws conn %s: auth refused (%s)", conn.conn_id, exc)
            return False
        return None

    def _subscribe(self, conn: WsConnection, channel: str, product_ids: list[str]) -> None:
        conn.subscribed_once = True
        snapshot_ids = product_ids
        if channel in PRIVATE_CHANNELS and not product_ids:
            snapshot_ids = []
        elif channel == "status" and not product_ids:
            snapshot_ids = self.source.product_ids()
        events_batches: list[list[dict[str, Any]]] = []
        if channel != "heartbeats":
            # built before the subscription is recorded, so no update can precede the snapshot
            events = self.source.snapshot_events(channel, snapshot_ids, conn.principal)
            if channel == "user":
                events_batches = [[e] for e in events]  # open orders, 50 per frame
            elif events:
                events_batches = [events]
        subs = conn.subscriptions.setdefault(channel, set())
        if channel == "heartbeats":
            subs.add("heartbeats")
        elif channel in PRIVATE_CHANNELS and not product_ids:
            subs.add("*")
        else:
            subs.update(snapshot_ids)
        if channel == "level2":
            for batch in events_batches:
                self.enqueue(conn, "l2_data", batch)
            self._send_ack(conn)
        else:
            self._send_ack(conn)
            for batch in events_batches:
                self.enqueue(conn, FRAME_CHANNEL.get(channel, channel), batch)

    def _unsubscribe(self, conn: WsConnection, channel: str, product_ids: list[str]) -> None:
        subs = conn.subscriptions.get(channel)
        if subs is not None:
            if not product_ids or channel == "heartbeats":
                conn.subscriptions.pop(channel, None)
            else:
                subs.difference_update(product_ids)
                if not subs:
                    conn.subscriptions.pop(channel, None)
        self._send_ack(conn)

    def _send_ack(self, conn: WsConnection) -> None:
        listing: dict[str, list[str]] = {}
        for channel, subs in conn.subscriptions.items():
            if channel in PRIVATE_CHANNELS:
                uuid = self.source.user_uuid(conn.principal.account_id) if conn.principal else ""
                listing[channel] = [uuid] if "*" in subs else sorted(subs)
            else:
                listing[channel] = sorted(subs)
        self.enqueue(conn, "subscriptions", [{"subscriptions": listing}])

    def send_error(self, conn: WsConnection, message: str) -> None:
        self._put(conn, ("error", _encoder.encode({"type": "error", "message": message})))

    # -------------------------------------------------------------------------------- writing
    def enqueue(self, conn: WsConnection, channel: str, events: list[dict[str, Any]] | bytes) -> None:
        """Queue a data frame; `events` may be pre-encoded so a fan-out encodes the payload once."""
        self._put(conn, (channel, events if isinstance(events, bytes) else _encoder.encode(events)))

    def _put(self, conn: WsConnection, item: tuple[str, bytes]) -> None:
        if conn.queue.qsize() >= self.config.max_queue:
            log.warning("ws conn %s: send queue full; closing slow consumer", conn.conn_id)
            self._abort(conn)
            return
        conn.queue.put_nowait(item)

    async def _writer(self, conn: WsConnection) -> None:
        while True:
            item = await conn.queue.get()
            if item is None or conn.ws.closed:
                return
            channel, payload = item
            if channel == "error":
                data = payload
            else:
                # the envelope differs per connection only in sequence_num: splice, don't re-encode
                data = b"".join(
                    (
                        b'{"channel":"',
                        channel.encode(),
                        b'","client_id":"","timestamp":"',
                        rfc3339_ns(self.source.now()).encode(),
                        b'","sequence_num":',
                        str(conn.next_seq()).encode(),
                        b',"events":',
                        payload,
                        b"}",
                    )
                )
            try:
                await conn.ws.send_frame(data, WSMsgType.TEXT)
            except (ConnectionResetError, RuntimeError):
                return
            conn.last_sent = time.monotonic()
            conn.sent_frames += 1

    # ------------------------------------------------------------------------------ producers
    def has_subscribers(self, channel: str, product_id: str | None = None) -> bool:
        return any(c.wants(channel, product_id) for c in self.connections.values())

    def has_private_subscribers(self, channel: str, account_id: str) -> bool:
        return any(
            c.principal is not None and c.principal.account_id == account_id and channel in c.subscriptions
            for c in self.connections.values()
        )

    def publish(self, channel: str, product_id: str | None, events: list[dict[str, Any]]) -> int:
        """Market-data fan-out (skipped for products under a `stall` fault). Returns frames queued."""
        if product_id is not None and channel != "status" and self.faults.is_stalled(product_id):
            return 0
        frame_channel = FRAME_CHANNEL.get(channel, channel)
        n = 0
        payload: bytes | None = None
        for conn in list(self.connections.values()):
            if conn.endpoint == "market" and conn.wants(channel, product_id):
                payload = payload or _encoder.encode(events)
                self.enqueue(conn, frame_channel, payload)
                n += 1
        return n

    def publish_private(
        self, channel: str, account_id: str, product_id: str | None, events: list[dict[str, Any]]
    ) -> int:
        n = 0
        for conn in list(self.connections.values()):
            if conn.principal is None or conn.principal.account_id != account_id:
                continue
            if conn.wants(channel, product_id):
                self.enqueue(conn, channel, events)
                n += 1
        return n

    def heartbeat_tick(self) -> None:
        now = self.source.now()
        text = now.strftime("%Y-%m-%d %H:%M:%S.%f")[:-4] + " +0000 UTC m=+" + f"{time.monotonic():.6f}"
        for conn in list(self.connections.values()):
            if "heartbeats" in conn.subscriptions:
                conn.heartbeat_counter += 1
                self.enqueue(conn, "heartbeats", [{"current_time": text, "heartbeat_counter": conn.heartbeat_counter}])

    def idle_check(self) -> None:
        limit = self.config.idle_timeout_s
        if limit <= 0:
            return
        now = time.monotonic()
        for conn in list(self.connections.values()):
            if conn.subscribed_once and now - conn.last_sent > limit and conn.queue.empty():
                self._spawn(conn.ws.close(code=1000, message=b"idle timeout"))

    # ---------------------------------------------------------------------------------- faults
    def _abort(self, conn: WsConnection) -> None:
        transport = conn.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        conn.queue.put_nowait(None)

    def fault_action(self, kind: str, arg: str) -> int:
        """`drop_ws` aborts sockets without a close frame; `seq_gap` skips sequence numbers."""
        n = 0
        for conn in list(self.connections.values()):
            if kind == "drop_ws" and arg in ("all", conn.endpoint):
                self._abort(conn)
                n += 1
            elif kind == "seq_gap":
                conn.seq += int(arg)
                n += 1
        return n

    async def close_all(self) -> None:
        self._stopping = True
        conns: Iterable[WsConnection] = list(self.connections.values())
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"server shutdown")
        for task in list(self._tasks):
            task.cancel()
