"""Admin API under `/admin` (outside the Coinbase namespace, no auth: the simulator binds 127.0.0.1).

GET    /admin/state                      clock, mids, connections, fault state, accounts
POST   /admin/fund        {asset, amount, account_id?}
POST   /admin/price       {product_id, price}          move the market (synthetic or pinned)
POST   /admin/book        {product_id, bids:[[p,s]..], asks:[[p,s]..]}   pin an exact book
DELETE /admin/book/{product_id}                         release a pinned book
POST   /admin/mark        {product_id, price|null}     pin/unpin the perps mark
POST   /admin/funding_rate {product_id, rate}
POST   /admin/advance     {seconds}                     jump the simulated clock
GET    /admin/faults  |  POST /admin/faults {spec}  |  DELETE /admin/faults
POST   /admin/keys        {kind: ec|ed25519|hmac, account_id?}   new credentials
GET    /admin/audit?account_id=  (* = every account)    balances recomputed from fills/fees/funding
POST   /admin/intx    {access: bool, denial?: scopes|not_found}   grant/revoke INTX (perps) access
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from gpt_trader.exchange_sim.auth import CdpKey
from gpt_trader.exchange_sim.faults import FaultSpecError
from gpt_trader.exchange_sim.wire import d, dumps, rfc3339
from gpt_trader.features.brokerages.core.interfaces import BookLevel, BrokerageError

if TYPE_CHECKING:
    from gpt_trader.exchange_sim.server import ExchangeSimulator


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": pick(0.5), "p99": pick(0.99), "max": ordered[-1], "n": float(len(ordered))}


class AdminError(Exception):
    pass


def _ok(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(body), status=status, content_type="application/json")


def _dec(body: dict[str, Any], key: str) -> Decimal:
    if key not in body:
        raise AdminError(f"missing {key!r}")
    try:
        value = Decimal(str(body[key]))
    except (InvalidOperation, ValueError) as exc:
        raise AdminError(f"{key} must be a decimal, got {body[key]!r}") from exc
    if not value.is_finite():
        raise AdminError(f"{key} must be finite, got {body[key]!r}")
    return value


def _levels(raw: Any, key: str) -> list[BookLevel]:
    if not isinstance(raw, list):
        raise AdminError(f"{key} must be a list of [price, size] pairs")
    out = []
    for item in raw:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise AdminError(f"{key} entries must be [price, size], got {item!r}")
        try:
            out.append(BookLevel(Decimal(str(item[0])), Decimal(str(item[1]))))
        except InvalidOperation as exc:
            raise AdminError(f"{key} entry {item!r} is not numeric") from exc
    return out


class AdminApi:
    def __init__(self, sim: ExchangeSimulator) -> None:
        self.sim = sim

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/admin/state", self._wrap(self.state))
        r.add_delete("/admin/timings", self._wrap(self.reset_timings))
        r.add_post("/admin/fund", self._wrap(self.fund))
        r.add_post("/admin/price", self._wrap(self.price))
        r.add_post("/admin/book", self._wrap(self.book))
        r.add_delete("/admin/book/{product_id}", self._wrap(self.release_book))
        r.add_post("/admin/mark", self._wrap(self.mark))
        r.add_post("/admin/funding_rate", self._wrap(self.funding_rate))
        r.add_post("/admin/advance", self._wrap(self.advance))
        r.add_get("/admin/faults", self._wrap(self.get_faults))
        r.add_post("/admin/faults", self._wrap(self.set_faults))
        r.add_delete("/admin/faults", self._wrap(self.clear_faults))
        r.add_post("/admin/keys", self._wrap(self.keys))
        r.add_get("/admin/audit", self._wrap(self.audit))
        r.add_post("/admin/intx", self._wrap(self.intx))
        r.add_post("/admin/key_permissions", self._wrap(self.key_permissions))
        r.add_post("/admin/clock_skew", self._wrap(self.clock_skew))

    def _wrap(self, fn: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            body: dict[str, Any] = {}
            if request.method in ("POST", "PUT"):
                raw = await request.read()
                if raw.strip():
                    try:
                        decoded = msgspec.json.decode(raw)
                    except msgspec.DecodeError:
                        return _ok({"error": "body is not JSON"}, 400)
                    if not isinstance(decoded, dict):
                        return _ok({"error": "body must be a JSON object"}, 400)
                    body = decoded
            try:
                result = fn(request, body)
            except (AdminError, FaultSpecError, ValueError) as exc:
                return _ok({"error": str(exc)}, 400)
            except BrokerageError as exc:
                return _ok({"error": str(exc), "reason": exc.reason}, 400)
            return _ok(result)

        return handler

    def _product(self, body: dict[str, Any]) -> str:
        pid = body.get("product_id")
        if not isinstance(pid, str) or not self.sim.venue.has_product(pid):
            raise AdminError(f"product_id {pid!r} unknown; known: {', '.join(self.sim.venue.product_ids())}")
        return pid

    def reset_timings(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        self.sim.rest_timings_ms.clear()
        return {"cleared": True}

    def state(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        sim = self.sim
        return {
            "now": rfc3339(sim.clock.now()),
            "speed": sim.clock.speed,
            "mids": {s: d(sim.engine.mid(s)) for s in sim.venue.product_ids()},
            "pinned": sorted(sim.venue.pinned.books),
            "connections": [
                {"id": c.conn_id, "endpoint": c.endpoint, "seq": c.seq, "channels": sorted(c.subscriptions)}
                for c in sim.hub.connections.values()
            ],
            "faults": sim.faults.snapshot(),
            "intx": sim.venue.intx.snapshot(),
            "accounts": sim.engine.accounts(),
            "requests_served": sim.requests_served,
            "rest_server_ms": _percentiles(list(sim.rest_timings_ms)),
        }

    def fund(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        asset = body.get("asset")
        if not isinstance(asset, str) or not asset:
            raise AdminError("asset must be a currency code like 'USD'")
        account = body.get("account_id") or self.sim.account_id
        bal = self.sim.venue.fund(str(account), asset, _dec(body, "amount"))
        return {"asset": bal.asset, "total": d(bal.total), "available": d(bal.available), "hold": d(bal.hold)}

    def price(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        pid = self._product(body)
        price = _dec(body, "price")
        if price <= 0:
            raise AdminError(f"price must be > 0, got {price}")
        self.sim.venue.set_price(pid, price)
        return {"product_id": pid, "mid": d(self.sim.engine.mid(pid))}

    def book(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        pid = self._product(body)
        self.sim.venue.pin_book(pid, _levels(body.get("bids"), "bids"), _levels(body.get("asks"), "asks"))
        return {"product_id": pid, "mid": d(self.sim.engine.mid(pid))}

    def release_book(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        pid = request.match_info["product_id"]
        return {"product_id": pid, "released": self.sim.venue.release_book(pid)}

    def mark(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        pid = self._product(body)
        price = None if body.get("price") is None else _dec(body, "price")
        self.sim.engine.set_mark(pid, price)
        self.sim.venue.step_market()
        return {"product_id": pid, "mark": d(self.sim.engine.mark(pid))}

    def funding_rate(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        pid = self._product(body)
        self.sim.engine.set_funding_rate(pid, _dec(body, "rate"))
        return {"product_id": pid, "rate": d(self.sim.engine.funding_rate(pid))}

    def advance(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        seconds = _dec(body, "seconds")
        now = self.sim.clock.advance(float(seconds))
        self.sim.venue.step_market()
        return {"now": rfc3339(now)}

    def get_faults(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        return self.sim.faults.snapshot()

    def set_faults(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        spec = body.get("spec")
        if not isinstance(spec, str) or not spec.strip():
            raise AdminError('body must be {"spec": "<fault spec>"}')
        items = self.sim.faults.apply(spec)
        return {"applied": [i.name for i in items], "state": self.sim.faults.snapshot()}

    def clear_faults(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        self.sim.faults.clear()
        return self.sim.faults.snapshot()

    def keys(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        kind = body.get("kind", "ec")
        if kind not in ("ec", "ed25519", "hmac"):
            raise AdminError(f"kind must be ec, ed25519 or hmac, got {kind!r}")
        account = str(body.get("account_id") or self.sim.account_id)
        key = self.sim.add_account_key(kind, account)
        if isinstance(key, CdpKey):
            return {"kind": kind, "account_id": account, "name": key.name, "private_key": key.private_key}
        return {"kind": kind, "account_id": account, "key": key.key, "secret": key.secret}

    def audit(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        account = request.query.get("account_id") or self.sim.account_id
        if account == "*":
            return self.sim.venue.audit_all()
        return self.sim.venue.audit(account)

    def intx(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        access = body.get("access")
        if not isinstance(access, bool):
            raise AdminError(f"access must be true or false, got {access!r}")
        denial = body.get("denial")
        if denial is not None and not isinstance(denial, str):
            raise AdminError(f"denial must be a string (scopes or not_found), got {denial!r}")
        self.sim.venue.intx.configure(access, denial)
        return self.sim.venue.intx.snapshot()

    def key_permissions(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        """Set what GET /key_permissions answers (e.g. {"can_trade": false} for a view-only key)."""
        perms = self.sim.venue.key_permissions
        unknown = sorted(set(body) - set(perms))
        if unknown:
            raise AdminError(f"unknown permission(s) {unknown}; allowed: {', '.join(sorted(perms))}")
        for name, value in body.items():
            if not isinstance(value, bool):
                raise AdminError(f"{name} must be true or false, got {value!r}")
            perms[name] = value
        return dict(perms)

    def clock_skew(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        """Skew the venue's wall clock by `seconds` (GET /time and auth windows); the market clock stays."""
        seconds = float(_dec(body, "seconds"))
        if abs(seconds) > 7 * 86_400:
            raise AdminError(f"seconds must be within +-604800 (a week), got {seconds}")
        self.sim.clock.skew_s = seconds
        return {"skew_s": seconds, "time": rfc3339(self.sim.clock.now() + dt.timedelta(seconds=seconds))}
