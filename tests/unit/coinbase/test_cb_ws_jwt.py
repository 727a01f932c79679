"""Every (re)subscribe carries a JWT of its own (fresh nonce and times, no `uri` claim): a resubscribe
after a gap or a reconnect never reuses an expired or replayed token."""

from __future__ import annotations

import cb_keys as keys
import jwt
import msgspec

from gpt_trader.features.brokerages.coinbase.auth import CdpJwtSigner
from gpt_trader.features.brokerages.coinbase.ws import WsConnection


def _frame(conn: WsConnection, kind: str, channel: str) -> dict[str, object]:
    out: dict[str, object] = msgspec.json.decode(conn._message(kind, channel, ["BTC-USD"]))
    return out


def test_each_subscribe_message_is_signed_afresh() -> None:
    now = [1_800_000_000.0]
    signer = CdpJwtSigner(keys.KEY_NAME, keys.EC_SEC1_PEM, clock=lambda: now[0])
    conn = WsConnection("ws://127.0.0.1:1/ws", "user", signer, lambda h: None)
    first = _frame(conn, "subscribe", "user")
    now[0] += 90  # later: a resubscribe after a gap
    again = _frame(conn, "subscribe", "user")
    tokens = [str(first["jwt"]), str(again["jwt"])]
    headers = [jwt.get_unverified_header(t) for t in tokens]
    claims = [jwt.decode(t, options={"verify_signature": False}) for t in tokens]
    assert headers[0]["nonce"] != headers[1]["nonce"]
    assert claims[1]["nbf"] - claims[0]["nbf"] == 90
    assert all("uri" not in c for c in claims)
    assert first["type"] == "subscribe" and first["channel"] == "user"
