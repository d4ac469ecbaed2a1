-include .env
export

PYTHON := .venv/bin/python

.PHONY: install browser lint fmt test reliability check demo bench

install: .venv/.installed

.venv/.installed: pyproject.toml
	python3 -m venv .venv && .venv/bin/pip install -q -e ".[dev]" && touch $@

lint: install
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports

fmt: install
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

# The end-to-end tests drive Debian's chromium; Playwright never downloads a browser here.
browser:
	@test -x /usr/bin/chromium || { if [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; else echo "chromium is missing: run 'sudo apt-get update && sudo apt-get install -y chromium' (the e2e tests skip without it)"; fi; }

# The suite in two passes: everything else spread over the CPUs (pytest-xdist), then the
# fault, load and security suite alone, so its timings and figures are its own.
test: install lint browser
	.venv/bin/pytest --numprocesses auto -m "not reliability"
	.venv/bin/pytest -m reliability

# Only the fault, load and security suite (tests/reliability/). Its table of figures ends the
# output and is kept in var/reliability/.
reliability: install browser
	.venv/bin/pytest -m reliability

check: install
	$(PYTHON) manage.py check && $(PYTHON) manage.py makemigrations --check --dry-run

demo: install
	$(PYTHON) manage.py demo

bench: install
	$(PYTHON) -m tests.bench.emulator_search && $(PYTHON) -m tests.bench.portal_search && $(PYTHON) -m tests.bench.edits
