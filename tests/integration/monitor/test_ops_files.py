"""ops/: the Prometheus alert rules parse (promtool check + its rule unit tests when Debian's `prometheus`
package is installed, as .ci/run does; a YAML schema check always), and every metric the rules and the
Grafana dashboard reference is exported by the bot (a canary bot on the simulator, its real /metrics)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from monitor_support import canary_bot, canary_config, sim_env, small_sim
from prometheus_client.parser import text_string_to_metric_families

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.orchestration.configuration import ConfigManager

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "ops" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "gpt-trader.json"
METRIC = re.compile(r"\bgpt_trader_[a-z0-9_]+")
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")
REQUIRED_ALERTS = {
    "GptTraderHalted",
    "GptTraderReduceOnly",
    "GptTraderStaleMarketData",
    "GptTraderVenueErrorRate",
    "GptTraderDailyLossNearLimit",
}


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    async for s in small_sim(seed=3, tick_interval_s=0.2, usd="10000"):
        yield s


def _rules() -> list[dict[str, object]]:
    doc = yaml.safe_load(RULES.read_text())
    assert isinstance(doc, dict) and set(doc) == {"groups"}
    rules: list[dict[str, object]] = []
    for group in doc["groups"]:
        assert set(group) <= {"name", "rules", "interval"} and group["name"] and group["rules"]
        rules.extend(group["rules"])
    return rules


def test_rules_schema_and_the_required_alerts() -> None:
    rules = _rules()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert isinstance(rule["expr"], str) and METRIC.search(rule["expr"]), rule
        labels, notes = rule["labels"], rule["annotations"]
        assert isinstance(labels, dict) and labels.get("severity") in ("page", "notify"), rule
        assert isinstance(notes, dict) and notes.get("summary"), rule
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", str(rule["for"])), rule
    assert {str(r["alert"]) for r in rules} >= REQUIRED_ALERTS


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing: .ci/run installs Debian's prometheus")
def test_promtool_checks_and_unit_tests_the_rules() -> None:
    check = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    cmd = ["promtool", "test", "rules", RULE_TESTS.name]
    unit = subprocess.run(cmd, cwd=RULE_TESTS.parent, capture_output=True, text=True, check=False)
    assert unit.returncode == 0 and "SUCCESS" in unit.stdout, unit.stdout + unit.stderr


async def test_every_referenced_metric_is_exported(sim: ExchangeSimulator, tmp_path: Path) -> None:
    manager = ConfigManager(env=sim_env(sim, GPT_TRADER_METRICS_PORT="0"), dotenv_path=None)
    bot = canary_bot(manager, canary_config(manager, tmp_path))
    bot.monitoring.open()
    assert bot.monitoring.server is not None
    try:
        await bot.start()
        for _ in range(2):
            await bot.run_cycle()
        # a cycle within a second of a bar boundary defers publishing (the bar's orders go first): one clear of
        # it publishes (at wall-clock speed the two cycles above fall in that second now and then)
        for _ in range(30):
            deferred = bot.metrics.counter("cycles.publish_deferred")
            await bot.run_cycle()
            if bot.metrics.counter("cycles.publish_deferred") == deferred:
                break
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=bot.monitoring.server.url) as client:
            text = (await client.get("/metrics")).text
    finally:
        await bot.shutdown()
    families = {f.name for f in text_string_to_metric_families(text)}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    exprs += [str(r["expr"]) for r in _rules()]
    referenced = {m for e in exprs for m in METRIC.findall(e)}
    assert len(referenced) >= 25
    missing = set()
    for name in referenced:
        family = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s) and name[: -len(s)] in families), name)
        if family not in families:
            missing.add(name)
    assert missing == set(), f"referenced but not exported: {sorted(missing)}"
