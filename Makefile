# Two commands matter: `make run` and `make test`. Both create .venv on first use
# (with uv when it is installed, else python3 -m venv + pip).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE_STAMP := $(VENV)/.installed-base
FULL_STAMP := $(VENV)/.installed-full
FULL_SPEC := .[research,dev,distributed]

.PHONY: run test setup setup-full lint typecheck bench docs fuzz fuzz-atheris clean

define install
	@if [ ! -x $(BIN)/python ]; then \
		if command -v uv >/dev/null 2>&1; then uv venv --python $(PY) $(VENV); else $(PY) -m venv $(VENV); fi; \
	fi
	@if command -v uv >/dev/null 2>&1; then \
		uv pip install --python $(BIN)/python -e "$(1)"; \
	else \
		$(BIN)/python -m pip install -q --upgrade pip && $(BIN)/python -m pip install -q -e "$(1)"; \
	fi
endef

# The live bot needs only the base dependencies; tests and research need the extras.
$(BASE_STAMP): pyproject.toml
	$(call install,.)
	@touch $(BASE_STAMP)

$(FULL_STAMP): pyproject.toml
	$(call install,$(FULL_SPEC))
	@touch $(BASE_STAMP) $(FULL_STAMP)

setup: $(BASE_STAMP)
setup-full: $(FULL_STAMP)

run: $(BASE_STAMP)
	$(BIN)/perps-bot --profile dev --dev-fast

test: $(FULL_STAMP)
	$(BIN)/python -m pytest -n 2 -q --cov --cov-report=term-missing:skip-covered

lint: $(FULL_STAMP)
	$(BIN)/ruff check src tests benchmarks docs

typecheck: $(FULL_STAMP)
	$(BIN)/mypy

# The fuzz suite in long mode: 5000 examples a property instead of CI's 60 (HYPOTHESIS_PROFILE in
# tests/fuzz/conftest.py); tens of minutes. `make test` runs the same properties bounded.
fuzz: $(FULL_STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/fuzz -q -p no:randomly -n 2

# Optional, not in CI: coverage-guided fuzzing of the WebSocket frame parser with atheris (libFuzzer), the
# `fuzz` extra (a cp311 manylinux wheel). ATHERIS_RUNS inputs (default 200000); the corpus grows under
# var/fuzz/ws_corpus; a crash leaves crash-* in var/fuzz to replay with the same script and that file.
ATHERIS_RUNS ?= 200000
fuzz-atheris: $(FULL_STAMP)
	$(call install,.[fuzz])
	@mkdir -p var/fuzz/ws_corpus
	cd var/fuzz && ../../$(BIN)/python ../../tests/fuzz/atheris_ws_frames.py ws_corpus -atheris_runs=$(ATHERIS_RUNS)

bench: $(FULL_STAMP)
	$(BIN)/python benchmarks/run_all.py

# The docs site (mkdocs.yml) into var/site; --strict fails on a broken link or reference.
docs: $(FULL_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) var/ .pytest_cache .mypy_cache .ruff_cache
