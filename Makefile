# Two commands do everything on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test install servers lint typecheck check bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

servers:
	bash .ci/install-servers.sh
	bash .ci/install-browser.sh

demo: install
	$(BIN)/verifier demo demo

lint: install
	$(BIN)/ruff check verifier fixtures tests bench
	$(BIN)/ruff format --check verifier fixtures tests bench

typecheck: install
	$(BIN)/mypy

test: install servers lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

bench: install servers
	bash .ci/install-bench.sh
	$(BIN)/python -m bench

clean:
	rm -rf demo .pytest_cache .mypy_cache .ruff_cache
