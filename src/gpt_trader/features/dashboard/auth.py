"""The web dashboard's access token: `GPT_TRADER_WEB_TOKEN`, or one generated at first start and kept in a
file only its owner can read (mode 0600). Why separate from the app: the rule for where the token comes
from is policy, testable without a server; the token itself is never logged or printed."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from gpt_trader.secret_files import exposure

ENV_TOKEN = "GPT_TRADER_WEB_TOKEN"
MIN_TOKEN_LEN = 16
TOKEN_FILE = "web_token"


class TokenError(Exception):
    """The token cannot be had safely (too short, a token file others can read); says what to fix."""


def load_or_create_token(path: Path, env: dict[str, str] | None = None) -> tuple[str, str]:
    """(token, where it came from). The environment wins; else the file at `path`, created 0600 with a
    fresh random token if absent. A file readable by group or others is refused, never silently used."""
    environ = os.environ if env is None else env
    value = environ.get(ENV_TOKEN)
    if value is not None:
        token = value.strip()
        if len(token) < MIN_TOKEN_LEN:
            raise TokenError(f"{ENV_TOKEN} must be at least {MIN_TOKEN_LEN} characters (got {len(token)})")
        return token, f"environment {ENV_TOKEN}"
    if path.exists():
        problem = exposure(path)
        if problem:
            raise TokenError(problem)
        token = path.read_text(encoding="utf-8").strip()
        if len(token) < MIN_TOKEN_LEN:
            raise TokenError(f"{path} holds a token shorter than {MIN_TOKEN_LEN} characters; delete it to regenerate")
        return token, f"file {path}"
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token, f"file {path} (generated)"


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison (a timing side channel must not leak the token)."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())
