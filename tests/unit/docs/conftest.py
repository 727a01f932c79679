"""Loads docs/gen_ref.py (the mkdocs hook that generates the reference pages) for the docs tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def gen_ref() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_gen_ref", ROOT / "docs" / "gen_ref.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
