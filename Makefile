# Two commands matter: `make run` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= research,dev

.PHONY: run test setup lint typecheck bench clean

$(STAMP): pyproject.toml
	@if command -v uv >/dev/null 2>&1; then \
		uv venv --python $(PY) $(VENV) && uv pip install --python $(BIN)/python -e ".[$(EXTRAS)]"; \
	else \
		$(PY) -m venv $(VENV) && $(BIN)/pip install -q --upgrade pip && $(BIN)/pip install -q -e ".[$(EXTRAS)]"; \
	fi
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/perps-bot --profile dev --dev-fast

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) var/ .pytest_cache .mypy_cache .ruff_cache
