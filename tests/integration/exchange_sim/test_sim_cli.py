"""`python -m gpt_trader.exchange_sim` as a subprocess: one JSON line, then a working venue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from coinbase.rest import RESTClient

from gpt_trader.exchange_sim.auth import generate_cdp_key
from sim_audit import REGISTRY

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DATA = Path("/work/shared/data/market/ohlcv/bitstamp_BTC-USD_1m_2020-01-01.csv.gz")


_ADMIN_URLS: dict[int, str] = {}  # pid -> admin URL of each simulator process launched


def launch(args: list[str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k != "REQUESTS_CA_BUNDLE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpt_trader.exchange_sim", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"simulator exited without its JSON line: {err[-2000:]}")
    info = json.loads(line)
    _ADMIN_URLS[proc.pid] = info["admin_url"]
    REGISTRY.track_url(info["admin_url"], label=f"pid {proc.pid}")
    return proc, info


@pytest.fixture()
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            REGISTRY.release_url(_ADMIN_URLS.pop(proc.pid))
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_cli_tls_keys_faults_and_replay(tmp_path: Path, procs: list[subprocess.Popen[str]]) -> None:
    key = generate_cdp_key("ed25519")
    key_file = tmp_path / "cdp_api_key.json"
    key_file.write_text(json.dumps({"name": "organizations/o1/apiKeys/k1", "privateKey": key.private_key}))
    proc, info = launch(
        [
            "--tls",
            "--seed",
            "7",
            "--cdp-key-file",
            str(key_file),
            "--hmac-key",
            "legacy-key",
            "--hmac-secret",
            "legacy-secret",
            "--faults",
            "http429:1",
            "--data",
            f"BTC-USD={DATA}",
            "--speed",
            "60",
        ]
    )
    procs.append(proc)
    assert set(info) == {
        "rest_url",
        "ws_url",
        "ws_user_url",
        "admin_url",
        "cert_path",
        "cdp_key_name",
        "cdp_private_key",
        "hmac_key",
        "hmac_secret",
    }
    assert info["rest_url"].startswith("https://127.0.0.1:") and info["ws_url"].startswith("wss://")
    assert info["ws_user_url"].endswith("/ws/user") and info["admin_url"].endswith("/admin")
    assert info["cdp_key_name"] == "organizations/o1/apiKeys/k1" and info["hmac_key"] == "legacy-key"
    base = info["rest_url"].removeprefix("https://")
    client = RESTClient(api_key=info["cdp_key_name"], api_secret=info["cdp_private_key"], base_url=base)
    client.session.verify = info["cert_path"]
    client.session.trust_env = False
    with pytest.raises(requests.HTTPError, match="429"):
        client.get_accounts()  # the --faults spec is armed at start
    assert client.get_accounts().accounts
    # BTC-USD replays the 2020-01-01 Bitstamp minute bars (price ~7.2k), others stay synthetic
    now = int(client.get_unix_time().epoch_seconds)
    assert time.gmtime(now).tm_year == 2020
    mid = float(client.get_product_book("BTC-USD", limit=1).mid_market)
    assert 6500 < mid < 7800
    candles = client.get_candles("BTC-USD", str(now - 3600), str(now), "ONE_MINUTE").candles
    assert len(candles) >= 50 and 6500 < float(candles[0].close) < 7800
    assert float(client.get_product_book("ETH-USD", limit=1).mid_market) > 1000


def test_cli_plain_http_prints_one_line(procs: list[subprocess.Popen[str]]) -> None:
    proc, info = launch([])
    procs.append(proc)
    assert "cert_path" not in info and info["rest_url"].startswith("http://")
    resp = requests.get(f"{info['rest_url']}/api/v3/brokerage/time", timeout=5)
    assert resp.status_code == 200
    REGISTRY.release_url(_ADMIN_URLS.pop(proc.pid))  # audited while it still serves
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    assert proc.stdout is not None and proc.stdout.read() == ""  # exactly one line was printed


def test_cli_rejects_half_hmac_pair() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gpt_trader.exchange_sim", "--port", "0", "--hmac-key", "k"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0 and "--hmac-key and --hmac-secret" in result.stderr
