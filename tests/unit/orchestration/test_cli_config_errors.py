"""Bad configuration exits with code 2 and a message naming the key; nothing starts."""

import subprocess
import sys
from pathlib import Path

import pytest

CASES = [
    (["--profile", "nope"], {}, "unknown profile 'nope'"),
    (["--profile", "dev", "--cycles", "0"], {}, "cycles = 0"),
    (["--profile", "dev", "--symbols", "btc/usd"], {}, "symbols"),
    (["--profile", "dev"], {"RISK_MAX_LEVERAGE": "500"}, "risk.max_leverage = 500"),
    (["--profile", "dev"], {"COINBASE_AUTH_TYPE": "magic"}, "'cdp', 'hmac'"),
    (["--profile", "canary"], {"COINBASE_PROD_CDP_PRIVATE_KEY": ""}, "no credentials are set"),
]


@pytest.mark.parametrize(("args", "env", "needle"), CASES)
def test_bad_config_exit_code_2(tmp_path: Path, args: list[str], env: dict[str, str], needle: str) -> None:
    base_env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("COINBASE_", "RISK_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "gpt_trader.cli", *args],
        cwd=tmp_path,
        env={**base_env, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert not (tmp_path / "var").exists()  # nothing started, nothing written


def test_config_check_prints_effective_config(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gpt_trader.cli", "config-check", "--profile", "canary"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"max_daily_loss_usd": "10"' in proc.stdout
