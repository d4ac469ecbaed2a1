-include .env
export

PYTHON := .venv/bin/python

.PHONY: install lint fmt test check demo bench

install: .venv/.installed

.venv/.installed: pyproject.toml
	python3 -m venv .venv && .venv/bin/pip install -q -e ".[dev]" && touch $@

lint: install
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports

fmt: install
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

test: install lint
	.venv/bin/pytest

check: install
	$(PYTHON) manage.py check && $(PYTHON) manage.py makemigrations --check --dry-run

demo: install
	$(PYTHON) manage.py demo

bench: install
	$(PYTHON) -m tests.bench.emulator_search
