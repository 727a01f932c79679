"""The preflight report: a table with a verdict line, or one JSON object."""

from __future__ import annotations

import json

from gpt_trader.orchestration.preflight import Check
from gpt_trader.orchestration.preflight_cli import render

CHECKS = [
    Check(name="keys", status="pass", detail="cdp key loads and signs"),
    Check(name="key_permissions", status="warn", detail="the key can transfer funds (can_transfer=true)"),
    Check(name="clock_skew", status="fail", detail="venue clock ahead of ours by 90.0s"),
]


def test_table_names_every_check_and_the_failures() -> None:
    text = render("canary", CHECKS)
    assert "Preflight: profile canary" in text
    for name, status in (("keys", "PASS"), ("key_permissions", "WARN"), ("clock_skew", "FAIL")):
        row = next(line for line in text.splitlines() if f" {name} " in line)
        assert status in row
    assert text.rstrip().splitlines()[-1] == "FAILED: clock_skew"
    assert render("canary", CHECKS[:2]).rstrip().splitlines()[-1] == "ready"


def test_json_report() -> None:
    doc = json.loads(render("prod", CHECKS, json_output=True))
    assert doc["profile"] == "prod" and doc["ok"] is False
    assert [c["status"] for c in doc["checks"]] == ["pass", "warn", "fail"]
    assert json.loads(render("prod", CHECKS[:1], json_output=True))["ok"] is True
