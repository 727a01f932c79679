"""`mock.deterministic`: true replays `mock.seed`'s market every run; false draws a fresh seed per run and
says which in the start-up notices, so that session can be replayed with `mock.seed`."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from gpt_trader.orchestration.configuration import ConfigManager
from gpt_trader.orchestration.service_registry import build_registry


async def _first_marks(tmp: Path, overrides: dict[str, object]) -> tuple[list[str], list[str]]:
    cfg = ConfigManager(env={}, dotenv_path=None).load("dev", {"symbols": ["BTC-USD", "ETH-USD"], **overrides})
    cfg = msgspec.structs.replace(cfg, data_root=str(tmp / "data"), health_file=str(tmp / "h.json"))
    registry = build_registry(cfg)
    broker = registry.broker
    await broker.connect()
    marks = []
    for _ in range(5):
        await broker.advance_time(60)  # type: ignore[attr-defined]
        marks.append(str((await broker.get_quote("BTC-USD")).mark_price))
    return marks, registry.notices


async def test_a_deterministic_mock_replays_its_seed(tmp_path: Path) -> None:
    first, notices = await _first_marks(tmp_path / "a", {"mock.seed": 7})
    again, _ = await _first_marks(tmp_path / "b", {"mock.seed": 7})
    other, _ = await _first_marks(tmp_path / "c", {"mock.seed": 8})
    assert first == again and first != other
    assert not any("mock market seed" in n for n in notices)


async def test_a_non_deterministic_mock_draws_a_seed_and_says_how_to_replay_it(tmp_path: Path) -> None:
    first, notices = await _first_marks(tmp_path / "a", {"mock.deterministic": False})
    second, _ = await _first_marks(tmp_path / "b", {"mock.deterministic": False})
    assert first != second  # two draws of 31 bits: equal only by a one-in-two-billion chance
    (notice,) = [n for n in notices if "mock market seed" in n]
    seed = int(re.search(r"mock market seed (\d+)", notice).group(1))  # type: ignore[union-attr]
    replay, _ = await _first_marks(tmp_path / "c", {"mock.seed": seed})
    assert replay == first
