# finsync developer entry points. `make up` is the whole local experience: the embedded stack
# (Temporal dev server with Web UI, mock SAP/bank/e-invoicing, the worker) plus sample invoices.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Installing takes a while and needs the package index: redo it only when the dependencies
# (pyproject.toml) change, not on every `make up`.
STAMP  := $(VENV)/.finsync-installed

.PHONY: venv up lint test bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[test,lint,tryton]'
	touch $@

up: venv
	$(PY) -m cli up

# ruff and mypy, configured in pyproject.toml (versions pinned in the `lint` extra).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Lint first: a finding fails the target before any test runs.
# The whole suite with the counterparts' clocks on a weekday morning, then the tests that depend
# on the bank's calendar again on a Sunday night (tests/clock.py). Both runs always happen, so a
# failure under one clock does not hide the other; the target fails if either did. The weekday
# run lists its 25 slowest tests, where the suite's time goes.
# TEST_PROCESSES pytest-xdist processes, each with its own servers, whole files each (`loadfile`:
# a file's module fixtures, like the 5,000-invoice run's private dev server, start once). The
# suite mostly waits on servers, so 3 processes on 2 cores take under half the time of one.
TEST_PROCESSES ?= 3
PYTEST := $(PY) -m pytest -q -n $(TEST_PROCESSES) --dist loadfile

test: lint
	@status=0; \
	FINSYNC_TEST_CLOCK=weekday-morning $(PYTEST) --durations=25 || status=1; \
	FINSYNC_TEST_CLOCK=weekend $(PYTEST) -m clock_sensitive || status=1; \
	exit $$status

# Each bench script starts its own servers on free ports and prints its figures. All of them
# run even if one fails; the failures are named at the end and make the target fail.
bench: venv
	@failed=""; for script in bench/[!_]*.py; do echo "== $$script"; $(PY) $$script || failed="$$failed $$script"; done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi
