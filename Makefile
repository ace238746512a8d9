# The two commands a fresh machine needs: `make demo` and `make test`.
# Each creates .venv (if missing) and installs what it needs into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_DIR ?= demo

.PHONY: demo test lint typecheck pytest docs clean venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

## The main job: replay a recorded gateway session into SQLite through a real GatewayBot, then query it.
demo: $(STAMP)
	$(BIN)/python -m hikaripersist demo --dir $(DEMO_DIR)

## Everything CI runs: lint, strict type check, the test suite, the documentation site (warnings are errors).
test: lint typecheck pytest docs

lint: $(STAMP)
	$(BIN)/ruff check hikaripersist hikaripersist_arc hikaripersist_lightbulb hikaripersist_tanjun tests examples bench
	$(BIN)/ruff format --check hikaripersist hikaripersist_arc hikaripersist_lightbulb hikaripersist_tanjun tests examples bench

typecheck: $(STAMP)
	$(BIN)/pyright

pytest: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

clean:
	rm -rf $(VENV) $(DEMO_DIR) build .pytest_cache .ruff_cache
