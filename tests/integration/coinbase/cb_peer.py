"""A tiny plain-HTTP server on 127.0.0.1 whose per-connection behaviour a test writes: what the simulator
cannot do (close while idle, never answer, cut a reply short, hold replies), and the raw bytes a client
sent. Used by the LeanTransport and REST send-path tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

Handler = Callable[["Peer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Peer:
    """A plain-HTTP server on 127.0.0.1 whose per-connection behaviour the test writes."""

    handler: Handler
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    eofs: int = 0
    #: every request read, head and body as received
    raw: list[bytes] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        """One request (head + Content-Length body), or None at EOF."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            self.eofs += 1
            return None
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        self.requests.append(head.split(b"\r\n", 1)[0])
        self.raw.append(head + body)
        return head + body


MakePeer = Callable[[Handler], Awaitable[Peer]]


async def start_peer(handler: Handler) -> Peer:
    """A Peer listening on an ephemeral port of 127.0.0.1; `peer.server.close()` stops it."""
    peer = Peer(handler)
    peer.server = await asyncio.start_server(peer._serve, "127.0.0.1", 0)
    return peer


@contextlib.asynccontextmanager
async def peers() -> AsyncIterator[MakePeer]:
    """Start peers inside the block; all are stopped when it ends (what the `peer_factory` fixtures wrap)."""
    started: list[Peer] = []

    async def make(handler: Handler) -> Peer:
        started.append(await start_peer(handler))
        return started[-1]

    try:
        yield make
    finally:
        for p in started:
            assert p.server is not None
            p.server.close()


async def keep_alive(peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await peer.read_request(reader) is not None:
        writer.write(OK)
        await writer.drain()


def closed_port_url() -> str:
    """http://127.0.0.1:PORT where nothing listens (the port was bound, then released): connect is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"
