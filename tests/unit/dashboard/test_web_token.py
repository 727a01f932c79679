"""Where the web dashboard's token comes from: the environment, else a 0600 file made at first start."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gpt_trader.features.dashboard.auth import ENV_TOKEN, TokenError, load_or_create_token, token_matches


def test_generated_once_with_mode_0600_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "perps_bot" / "dev" / "web_token"
    token, origin = load_or_create_token(path, env={})
    assert len(token) >= 32 and origin.endswith("(generated)") and token not in origin
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, origin2 = load_or_create_token(path, env={})
    assert again == token and not origin2.endswith("(generated)")


def test_environment_wins_and_must_be_long_enough(tmp_path: Path) -> None:
    path = tmp_path / "web_token"
    token, origin = load_or_create_token(path, env={ENV_TOKEN: " a-long-enough-token-123 "})
    assert token == "a-long-enough-token-123" and origin == f"environment {ENV_TOKEN}"
    assert not path.exists(), "an environment token must not leave a file behind"
    with pytest.raises(TokenError, match=f"{ENV_TOKEN} must be at least 16 characters"):
        load_or_create_token(path, env={ENV_TOKEN: "short"})


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "web_token"
    path.write_text("x" * 40)
    path.chmod(0o644)
    with pytest.raises(TokenError, match=r"mode 0644 .*chmod 600 ") as err:
        load_or_create_token(path, env={})
    assert "x" * 40 not in str(err.value)


def test_token_matches_exactly() -> None:
    assert token_matches("a" * 20, "a" * 20)
    assert not token_matches("a" * 19, "a" * 20)
    assert not token_matches(None, "a" * 20)
    assert not token_matches("", "a" * 20)
