"""Secrets at rest (issue 17): a CDP key file, `.env` or web token file that group or others can read is
refused at start with exit 2 and the fix (`chmod 600 FILE`), as ssh refuses a private key; never read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpt_trader.secret_files import exposure

SECRET = "TOP-SECRET-MATERIAL-0123456789abcdef"


def _cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COINBASE_", "RISK_", "GPT_TRADER_"))}
    return subprocess.run(
        [sys.executable, "-m", "gpt_trader.cli", *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _refused(proc: subprocess.CompletedProcess[str], path: Path) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert f"chmod 600 {path}" in proc.stderr, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_exposure_names_the_file_mode_and_fix(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET)
    path.chmod(mode)
    problem = exposure(path)
    assert problem is not None and f"mode {mode:04o}" in problem and f"chmod 600 {path}" in problem
    assert SECRET not in problem


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_files_and_absent_files_pass(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET)
    path.chmod(mode)
    assert exposure(path) is None
    assert exposure(tmp_path / "absent") is None


@pytest.mark.parametrize(
    "command", [["config-check", "--profile", "dev"], ["run", "--profile", "dev", "--cycles", "1"]]
)
def test_a_dotenv_others_can_read_is_refused_at_start(tmp_path: Path, command: list[str]) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"COINBASE_API_SECRET={SECRET}\n")
    dotenv.chmod(0o644)
    _refused(_cli(command, tmp_path), Path(".env"))
    dotenv.chmod(0o600)
    assert _cli(["config-check", "--profile", "dev"], tmp_path).returncode == 0


def test_a_cdp_key_file_others_can_read_is_refused_at_start(tmp_path: Path) -> None:
    key = tmp_path / "cdp_api_key.json"
    key.write_text(json.dumps({"name": "organizations/o/apiKeys/k", "privateKey": SECRET}))
    key.chmod(0o640)
    _refused(_cli(["config-check", "--profile", "canary"], tmp_path, COINBASE_CDP_KEY_FILE=str(key)), key)


def test_a_cdp_key_file_others_can_read_is_refused_by_the_signer(tmp_path: Path) -> None:
    from gpt_trader.features.brokerages.coinbase.auth import CredentialError, load_cdp_key_file

    key = tmp_path / "cdp_api_key.json"
    key.write_text(json.dumps({"name": "organizations/o/apiKeys/k", "privateKey": SECRET}))
    key.chmod(0o604)
    with pytest.raises(CredentialError, match="chmod 600") as err:
        load_cdp_key_file(key)
    assert SECRET not in str(err.value)


def test_a_web_token_file_others_can_read_is_refused_at_start(tmp_path: Path) -> None:
    token = tmp_path / "data" / "perps_bot" / "dev" / "web_token"
    token.parent.mkdir(parents=True)
    token.write_text(SECRET + "\n")
    token.chmod(0o644)
    proc = _cli(["web", "--profile", "dev", "--data-root", str(tmp_path / "data"), "--port", "0"], tmp_path)
    _refused(proc, token)
