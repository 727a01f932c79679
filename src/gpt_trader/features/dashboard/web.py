"""`perps-bot web`: the read-only web dashboard, a small aiohttp app run in its own process.

Pages (overview, positions, orders and fills, sessions, backtests) are static shells from the package's
`assets/` that poll the JSON API every `refresh_s`; the figures come from `DashboardSource` only. Every
route but `/login` needs the token: `Authorization: Bearer <token>`, or once `?token=<token>`, which
sets an HttpOnly session cookie and redirects to the same page without the token in its address.
Only GET exists: the app can change nothing.
"""

from __future__ import annotations

import asyncio
import html
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from gpt_trader.features.dashboard.auth import token_matches
from gpt_trader.features.dashboard.fmt import money, signed
from gpt_trader.features.dashboard.source import DashboardSource, SourceError

COOKIE = "gpt_trader_web_session"
PAGES = {
    "/": ("overview", "Overview"),
    "/positions": ("positions", "Positions"),
    "/orders": ("orders", "Orders and fills"),
    "/sessions": ("sessions", "Sessions"),
    "/backtests": ("backtests", "Backtests"),
}
ASSETS = ("app.js", "style.css")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
TOKEN_KEY: web.AppKey[str] = web.AppKey("token", str)
SOURCE_KEY: web.AppKey[DashboardSource] = web.AppKey("source", DashboardSource)
SESSIONS_KEY: web.AppKey[set[str]] = web.AppKey("sessions", set)
REFRESH_KEY: web.AppKey[float] = web.AppKey("refresh", float)
WINDOW_KEY: web.AppKey[int] = web.AppKey("window", int)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _asset(name: str) -> str:
    return resources.files("gpt_trader.features.dashboard").joinpath("assets", name).read_text(encoding="utf-8")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), status=status, content_type="application/json")


def _unauthorized(request: web.Request) -> web.Response:
    if request.path.startswith("/api/"):
        return _json({"error": "unauthorized: send Authorization: Bearer <token> or open /login"}, status=401)
    body = _asset("login.html").replace("{{message}}", "This page needs the dashboard token.")
    return web.Response(text=body, status=401, content_type="text/html")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Token check on every route but /login; `?token=` is exchanged for a session cookie once."""
    app = request.app
    if request.path == "/login":
        return await handler(request)
    token = app[TOKEN_KEY]
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and token_matches(header[len("Bearer ") :].strip(), token):
        return await handler(request)
    cookie = request.cookies.get(COOKIE)
    if cookie is not None and cookie in app[SESSIONS_KEY]:
        return await handler(request)
    if "token" in request.query and token_matches(request.query["token"], token):
        session = secrets.token_urlsafe(32)
        app[SESSIONS_KEY].add(session)
        query = {k: v for k, v in request.query.items() if k != "token"}
        response = web.Response(status=303, headers={"Location": str(request.rel_url.with_query(query))})
        response.set_cookie(COOKIE, session, httponly=True, samesite="Strict", path="/")
        return response
    return _unauthorized(request)


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if not request.path.startswith("/backtests/view/"):  # a report carries its own inline plotly
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
    return response


async def login(request: web.Request) -> web.Response:
    return web.Response(text=_asset("login.html").replace("{{message}}", ""), content_type="text/html")


def page(key: str, title: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        nav = "".join(
            f'<a href="{path}" class="{"on" if k == key else ""}">{html.escape(label)}</a>'
            for path, (k, label) in PAGES.items()
        )
        body = (
            _asset("page.html")
            .replace("{{title}}", html.escape(title))
            .replace("{{nav}}", nav)
            .replace("{{page}}", key)
            .replace("{{refresh_ms}}", str(int(request.app[REFRESH_KEY] * 1000)))
            .replace("{{window}}", str(request.app[WINDOW_KEY]))
            .replace("{{profile}}", html.escape(request.app[SOURCE_KEY].paths.profile))
        )
        return web.Response(text=body, content_type="text/html")

    return handler


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    kind = "application/javascript" if name.endswith(".js") else "text/css"
    return web.Response(text=_asset(name), content_type=kind)


async def _read(request: web.Request, fn: Callable[[DashboardSource], Any]) -> web.Response:
    """Run a store read off the event loop; a SourceError is a 503 naming what is missing."""
    try:
        data = await asyncio.to_thread(fn, request.app[SOURCE_KEY])
    except SourceError as exc:
        return _json({"error": str(exc)}, status=503)
    return _json(data)


def _window(request: web.Request) -> int:
    raw = request.query.get("window", str(request.app[WINDOW_KEY]))
    if not raw.isdigit() or not 1 <= int(raw) <= 10080:
        raise web.HTTPBadRequest(text=f"window must be whole minutes 1..10080, got {raw!r}")
    return int(raw)


def _overview(source: DashboardSource, window: int) -> dict[str, Any]:
    snap = source.snapshot(window_min=window)
    doc: dict[str, Any] = msgspec.to_builtins(snap)
    doc["display"] = {
        "equity": money(snap.equity),
        "pnl_today": signed(snap.pnl_today),
        "pnl_window": signed(snap.pnl_window),
        "day_start_equity": money(snap.day_start_equity),
    }
    return doc


async def api_overview(request: web.Request) -> web.Response:
    window = _window(request)
    return await _read(request, lambda s: _overview(s, window))


async def api_orders(request: web.Request) -> web.Response:
    q = request.query
    return await _read(
        request,
        lambda s: {
            "orders": s.orders(symbol=q.get("symbol"), status=q.get("status"), side=q.get("side")),
            "fills": s.fills(symbol=q.get("symbol"), side=q.get("side")),
        },
    )


async def api_sessions(request: web.Request) -> web.Response:
    return await _read(request, lambda s: s.sessions())


async def api_backtests(request: web.Request) -> web.Response:
    return await _read(request, lambda s: s.backtest_reports())


async def view_report(request: web.Request) -> web.StreamResponse:
    try:
        path: Path = request.app[SOURCE_KEY].report_file(request.match_info["path"])
    except SourceError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    return web.FileResponse(path, headers={"Content-Type": "text/html; charset=utf-8"})


def create_app(source: DashboardSource, *, token: str, refresh_s: float = 5.0, window_min: int = 60) -> web.Application:
    """The app; `token` guards every route but /login."""
    if len(token) < 16:
        raise ValueError("the web token must be at least 16 characters")
    if not 0.2 <= refresh_s <= 3600:
        raise ValueError(f"refresh_s must be 0.2..3600 seconds, got {refresh_s}")
    app = web.Application(middlewares=[headers_middleware, auth_middleware])
    app[TOKEN_KEY] = token
    app[SOURCE_KEY] = source
    app[SESSIONS_KEY] = set()
    app[REFRESH_KEY] = float(refresh_s)
    app[WINDOW_KEY] = int(window_min)
    app.router.add_get("/login", login)
    for path, (key, title) in PAGES.items():
        app.router.add_get(path, page(key, title))
    app.router.add_get("/static/{name}", asset)
    app.router.add_get("/api/overview", api_overview)
    app.router.add_get("/api/positions", api_overview)
    app.router.add_get("/api/orders", api_orders)
    app.router.add_get("/api/sessions", api_sessions)
    app.router.add_get("/api/backtests", api_backtests)
    app.router.add_get("/backtests/view/{path:.+}", view_report)
    return app


async def serve(app: web.Application, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve until cancelled; `announce` gets the URL actually bound (port 0 picks a free one)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]  # the port actually bound (port 0 picks a free one)
    announce(f"http://{host}:{bound}/")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
