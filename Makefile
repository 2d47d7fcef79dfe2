# The two commands a new user types: `make demo` (the main job) and `make test` (the tests).
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev
# the suite waits on servers, subprocesses and browsers much of the time: two workers halve it
TEST_WORKERS ?= 2

.PHONY: install demo test lint

$(VENV)/.installed-$(EXTRAS): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[$(EXTRAS)]'
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

demo: install
	$(VENV)/bin/limelight demo

lint: install
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m mypy

test: lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup
