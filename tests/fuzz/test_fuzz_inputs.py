"""Fuzzed operator input (issue 17): profile YAML, `.env` files, command-line arguments and the candle
files `data import` reads. Each ends in a value that is sane or a typed error naming what is wrong
(ConfigError / exit 2, CandleFileError), never a traceback, never a bot that starts on a bad setting."""

from __future__ import annotations

import math
import string
from pathlib import Path

import pytest
import yaml
from frames import BAD_NUMBERS, GOOD_NUMBERS, json_values
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from gpt_trader.cli import app
from gpt_trader.errors import ConfigError
from gpt_trader.features.data.importer import CandleFileError, load_candle_file
from gpt_trader.orchestration.configuration import ENV_OVERRIDES, BotConfig, ConfigManager, read_dotenv

KEYS = ["broker", "symbols", "cycle_interval_s", "log_level", "mock", "strategy", "sizing", "risk", "coinbase",
        "monitoring", "reconciliation", "trading_window", "data_root", "paper", "unknown_key"]  # fmt: skip
SUBKEYS = ["seed", "starting_cash", "name", "params", "method", "sizes", "max_daily_loss_pct", "max_leverage",
           "limits_file", "auth_type", "metrics_port", "start", "end", "bogus"]  # fmt: skip
values = st.one_of(json_values, st.sampled_from(BAD_NUMBERS + GOOD_NUMBERS + ["mock", "coinbase", "paper", "BTC-USD"]))
profiles = st.dictionaries(
    st.sampled_from(KEYS), st.one_of(values, st.dictionaries(st.sampled_from(SUBKEYS), values, max_size=4)), max_size=6
)
yaml_texts = st.one_of(
    profiles.map(lambda d: yaml.safe_dump(d)),
    st.text(alphabet=string.printable, max_size=80),
    st.sampled_from(["", "---", "- a\n- b", "a: [", "a: !!python/object:os.system x", "&a [*a]", "x: *undefined"]),
)


def _load(profile_text: str, tmp: Path, env: dict[str, str] | None = None) -> BotConfig | None:
    path = tmp / "fuzz_profile.yaml"
    path.write_text(profile_text)
    try:
        return ConfigManager(env=env or {}, dotenv_path=None).load(str(path))
    except ConfigError as exc:
        assert str(exc), "a ConfigError must say what is wrong"
        return None


@given(text=yaml_texts)
def test_profile_yaml_ends_in_a_config_or_a_config_error(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    config = _load(text, tmp_path_factory.mktemp("p"))
    if config is not None:
        assert config.symbols and config.cycle_interval_s > 0


@given(env=st.dictionaries(st.sampled_from(sorted(ENV_OVERRIDES)), values.map(str), max_size=4))
def test_environment_overrides_end_in_a_config_or_a_config_error(env: dict[str, str]) -> None:
    try:
        ConfigManager(env=env, dotenv_path=None).load("dev")
    except ConfigError as exc:
        assert any(var in str(exc) for var in env), f"the error names no variable: {exc}"


dotenv_lines = st.one_of(
    st.builds(lambda k, v, q: f"{k}={q}{v}{q}", st.sampled_from([*sorted(ENV_OVERRIDES), "X", "", " "]),
              values.map(str), st.sampled_from(["", '"', "'"])),
    st.text(alphabet=string.printable, max_size=30),
    st.sampled_from(["# comment", "export RISK_MAX_LEVERAGE=2", "=novalue", "KEY", 'A="unterminated']),
)  # fmt: skip


@given(lines=st.lists(dotenv_lines, max_size=6))
def test_dotenv_files_end_in_a_config_or_a_config_error(
    lines: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("e") / ".env"
    path.touch(0o600)
    path.write_text("\n".join(lines))
    try:
        read_dotenv(path)
        ConfigManager(env={}, dotenv_path=path).load("dev")
    except ConfigError as exc:
        assert str(exc)


# ------------------------------------------------------------------------------------------- CLI
OPTIONS = ["--profile", "--symbols", "--cycles", "--interval", "--log-level", "--dry-run", "--reduce-only",
           "--verbose", "--json", "--dev-fast", "--bogus", "-x", "--"]  # fmt: skip
tokens = st.one_of(st.sampled_from(OPTIONS), values.map(str), st.text(max_size=8))


@given(command=st.sampled_from(["run", "config-check", "preflight", "account"]), args=st.lists(tokens, max_size=6))
def test_cli_arguments_end_in_an_exit_code_not_a_traceback(command: str, args: list[str]) -> None:
    """Every argument list carries a profile that cannot load, so no session ever starts; whatever the
    rest, the command ends with a usage or configuration error (exit 2) and a message."""
    result = CliRunner().invoke(app, [command, *args, "--profile", "/nonexistent/fuzz.yaml"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.output.strip(), "an error must say what is wrong"


# ---------------------------------------------------------------------------------- candle files
CELLS = BAD_NUMBERS + GOOD_NUMBERS + ["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", "1704067200", "x", ""]
HEADERS = ["timestamp", "open", "high", "low", "close", "volume", "date", "timeframe", "volume_BTC", "junk"]
csv_rows = st.lists(st.lists(st.sampled_from(CELLS), min_size=0, max_size=7), max_size=6)


def _good_header_rows(rows: list[list[str]]) -> str:
    header = "timestamp,open,high,low,close,volume"
    return "\n".join([header, *(",".join(r) for r in rows)])


csv_texts = st.one_of(
    csv_rows.map(_good_header_rows),
    st.builds(lambda h, rows: "\n".join([",".join(h), *(",".join(r) for r in rows)]),
              st.lists(st.sampled_from(HEADERS), max_size=7), csv_rows),
    st.text(alphabet=string.printable, max_size=120),
    st.binary(max_size=60),
)  # fmt: skip


@given(text=csv_texts)
def test_candle_files_load_sane_bars_or_raise_a_candle_file_error(
    text: str | bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("c") / "bars.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    try:
        df = load_candle_file(path, symbol="BTC-USD", granularity="1m")
    except CandleFileError as exc:
        assert str(exc)
        return
    assert len(df) > 0, "an empty import must be refused, not stored"
    for col in ("open", "high", "low", "close"):
        assert all(math.isfinite(v) and v > 0 for v in df[col]), (col, df[col].tolist())
    assert all(math.isfinite(v) and v >= 0 for v in df["volume"]), df["volume"].tolist()
    assert (df["high"] >= df["low"]).all()


@pytest.mark.parametrize(
    ("content", "says"),
    [  # what the fuzzer found: each escaped as a pandas error or stored an unusable bar
        (b"", "cannot be read"),  # EmptyDataError
        (b"\x80", "cannot be read"),  # UnicodeDecodeError
        (b"timestamp,open,high,low,close,volume\n", "no bars"),  # header only: stored nothing, then IndexError
        (b"timestamp,open,high,low,close,volume\nNaN,1,1,1,1,1\n", "non-finite epoch"),  # IntCastingNaNError
        (b"timestamp,open,high,low,close,volume\n1704067200,inf,1,1,1,1\n", "positive finite"),
        (b"timestamp,open,high,low,close,volume\n1704067200,-1,1,1,1,1\n", "positive finite"),
        (b"timestamp,open,high,low,close,volume\n1704067200,1,1,2,1,1\n", "high < low"),
        (b"timestamp,open,high,low,close,volume\n1704067200,1,1,1,1,-inf\n", "volume"),
    ],
)
def test_found_candle_files_are_refused_with_a_message(content: bytes, says: str, tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(content)
    with pytest.raises(CandleFileError, match=says):
        load_candle_file(path, symbol="BTC-USD", granularity="1m")
    result = CliRunner().invoke(
        app, ["data", "import", str(path), "--symbol", "BTC-USD", "--granularity", "1m", "--store-root", str(tmp_path)]
    )
    assert result.exit_code == 2 and "data error" in result.output, result.output


@pytest.mark.parametrize("raw", ["NaN", "nan", "Infinity", "-inf", "sNaN"])
@pytest.mark.parametrize("var", ["RISK_MAX_DAILY_LOSS_PCT", "COINBASE_STALE_AFTER_S", "COINBASE_RATE_LIMIT_PUBLIC"])
def test_found_non_finite_settings_are_config_errors(var: str, raw: str) -> None:
    """Found by the fuzzer: RISK_MAX_DAILY_LOSS_PCT=NaN ended in decimal.InvalidOperation (a traceback), and a
    float setting of nan passed every `<= 0` check (COINBASE_STALE_AFTER_S=nan: data never stale)."""
    with pytest.raises(ConfigError, match=f"{var}={raw!r}"):
        ConfigManager(env={var: raw}, dotenv_path=None).load("dev")


@pytest.mark.parametrize(
    "text", ["risk: {max_daily_loss_pct: .nan}", "cycle_interval_s: .inf", "risk: {max_leverage: NaN}"]
)
def test_found_non_finite_profile_numbers_are_config_errors(text: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"(?i)nan|inf|finite"):
        _load_strict(text, tmp_path)


def _load_strict(text: str, tmp: Path) -> BotConfig:
    path = tmp / "p.yaml"
    path.write_text(text)
    return ConfigManager(env={}, dotenv_path=None).load(str(path))
