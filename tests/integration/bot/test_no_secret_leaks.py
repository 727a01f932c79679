"""Secrets at rest and in output (issue 17): a full `perps-bot run` session on the exchange simulator, with
faults that make the bot log errors, retries and reconnects, is searched byte for byte for every secret
configured (CDP private key and its PEM body, HMAC secret, API key names are not secret; alert webhook and
routing key): every log line on the console and in the log files, `/metrics` and `/health` while it runs,
metrics.json, the health file and every journal row (raw bytes of every SQLite file, WAL included)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys
import time
from pathlib import Path

import httpx
import pytest
from stream_bot_support import stream_sim, write_profile

from gpt_trader.exchange_sim import ExchangeSimulator

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LISTENING = re.compile(r"metrics=http://127\.0\.0\.1:(\d+)/metrics")
FAULTS = ("http5xx:3", "http429:2", "drop_ws:all", "seq_gap:2", "reject_orders:1", "http5xx:1:503:after")


def fragments(secret: str) -> set[bytes]:
    """What a leak of `secret` could look like: itself, its base64, and for a PEM every 16-character
    piece of its base64 body (a key printed in part, or re-wrapped, is still a leak)."""
    out = {secret.encode(), base64.b64encode(secret.encode())}
    body = "".join(line.strip() for line in secret.splitlines() if line.strip() and "-----" not in line)
    if body and body != secret:
        out.add(body.encode())
        out.update(body[i : i + 16].encode() for i in range(0, max(len(body) - 15, 1), 8))
    return {f for f in out if len(f) >= 12}


def assert_no_leak(where: str, data: bytes, secrets: dict[str, str]) -> None:
    for name, secret in secrets.items():
        for frag in fragments(secret):
            assert frag not in data, f"{name} (or a piece of it) appears in {where}"


async def _drain(stream: asyncio.StreamReader, sink: bytearray) -> None:
    while chunk := await stream.read(65536):
        sink.extend(chunk)


async def _run_session(sim: ExchangeSimulator, tmp_path: Path, env: dict[str, str], secrets: dict[str, str]) -> None:
    (tmp_path / "run").mkdir()
    profile = write_profile(tmp_path / "run")
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GPT_TRADER_METRICS_PORT": "0"}
    args = ["-m", "gpt_trader.cli", "run", "--profile", str(profile), "--cycles", "60", "--interval", "0.25"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        "--log-level",
        "DEBUG",
        "--verbose",
        cwd=tmp_path,
        env={**base, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = bytearray()
    scraped: list[tuple[str, bytes]] = []
    try:
        assert proc.stdout is not None
        drain = asyncio.create_task(_drain(proc.stdout, output))
        deadline = time.monotonic() + 60
        while not (m := LISTENING.search(output.decode(errors="replace"))):
            assert time.monotonic() < deadline and proc.returncode is None, output.decode(errors="replace")[-3000:]
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{m.group(1)}") as client:
            for spec in FAULTS:  # errors, retries, reconnects: the paths where a secret could slip out
                sim.faults.apply(spec)
                await asyncio.sleep(1.0)
                for path in ("/metrics", "/health"):
                    try:
                        reply = await client.get(path)
                    except httpx.HTTPError:
                        break  # the session ended; its files are still searched
                    scraped.append((path, reply.content))
        code = await asyncio.wait_for(proc.wait(), timeout=120)
        await drain
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = output.decode(errors="replace")
    assert code == 0, text[-3000:]
    assert scraped and any(b"gpt_trader_cycles_total" in body for _, body in scraped), "no /metrics scraped"
    assert_no_leak("the console output", bytes(output), secrets)
    for path, body in scraped:
        assert_no_leak(path, body, secrets)
    searched = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    kinds = {p.suffix for p in searched}
    assert {".json", ".log"} <= kinds or ".jsonl" in kinds, f"expected logs and metrics files, found {kinds}"
    assert any(p.name == "metrics.json" for p in searched) and any(p.name == "health.json" for p in searched)
    assert any(p.suffix in (".db", ".sqlite", ".sqlite3") for p in searched), "no journal database written"
    for file in searched:
        assert_no_leak(str(file), file.read_bytes(), secrets)
    assert sim.venue.all_orders(sim.account_id), "the session placed no order; the journal search proves little"


def _alert_env(tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    # loopback addresses nobody listens on: delivery fails, and the failure path must not print them
    hook = "http://127.0.0.1:9/services/T000SECRET/B000SECRET/slackwebhooksecretpath0123"
    routing = "pagerduty-routing-key-secret-0123456789"
    env = {
        "GPT_TRADER_SLACK_WEBHOOK_URL": hook,
        "GPT_TRADER_PAGERDUTY_ROUTING_KEY": routing,
        "GPT_TRADER_PAGERDUTY_URL": "http://127.0.0.1:9/v2/enqueue",
    }
    return env, {"slack webhook": hook.split("/services/", 1)[1], "pagerduty routing key": routing}


async def test_cdp_key_file_session_leaks_no_secret(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        keys = tmp_path / "keys"
        keys.mkdir(mode=0o700)
        key_file = keys / "cdp_api_key.json"
        key_file.touch(0o600)
        key_file.write_text(json.dumps({"name": sim.cdp_key.name, "privateKey": sim.cdp_key.private_key}))
        alert_env, alert_secrets = _alert_env(tmp_path)
        env = {
            "COINBASE_API_BASE_URL": sim.rest_url,
            "COINBASE_WS_URL": sim.ws_url,
            "COINBASE_WS_USER_URL": sim.ws_user_url,
            "COINBASE_AUTH_TYPE": "cdp",
            "COINBASE_CDP_KEY_FILE": str(key_file),
            **alert_env,
        }
        await _run_session(sim, tmp_path, env, {"CDP private key": sim.cdp_key.private_key, **alert_secrets})


async def test_hmac_session_leaks_no_secret(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        env = {
            "COINBASE_API_BASE_URL": sim.rest_url,
            "COINBASE_WS_URL": sim.ws_url,
            "COINBASE_WS_USER_URL": sim.ws_user_url,
            "COINBASE_AUTH_TYPE": "hmac",
            "COINBASE_API_KEY": sim.hmac.key,
            "COINBASE_API_SECRET": sim.hmac.secret,
        }
        await _run_session(sim, tmp_path, env, {"HMAC secret": sim.hmac.secret})
