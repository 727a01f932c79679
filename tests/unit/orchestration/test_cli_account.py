import json
import subprocess
import sys
from pathlib import Path


def test_account_json_on_dev_profile(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gpt_trader.cli", "account", "--profile", "dev", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"balances", "positions", "open_orders", "fills", "fee_tier"}
    usd = next(b for b in data["balances"] if b["asset"] == "USD")
    assert usd["total"] == "100000" and isinstance(usd["available"], str)


def test_account_without_credentials_is_a_config_error(tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("COINBASE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "gpt_trader.cli", "account", "--profile", "canary"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "no credentials are set" in proc.stderr
