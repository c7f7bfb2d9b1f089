# MESE: one command to run the product on its embedded defaults, one to run the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MESE := $(VENV)/bin/mese
PORT ?= 5000
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/mese_test

.PHONY: install run test migration clean

$(VENV)/.installed: setup.cfg setup.py
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## Run the member area (/) and back office (/backoffice) with demo data, SQLite, in-process jobs.
run: install
	$(MESE) db upgrade
	$(MESE) demo
	$(MESE) serve --port $(PORT)

## Run the test suite against the machine's PostgreSQL and Redis, with a local SMTP server.
test: install
	$(PY) -m pytest

## Regenerate the single initial migration from models/ (before the first release only).
migration: install
	$(PY) -m tests.tools.regenerate_migration

clean:
	rm -rf $(VENV) var .pytest_cache
