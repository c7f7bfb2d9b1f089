# MESE: one command to run the product on its embedded defaults, one to run the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
MESE := $(VENV)/bin/mese
PORT ?= 5000

.PHONY: install install-dev run test migration translations clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

$(VENV)/.installed: setup.cfg setup.py | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: setup.cfg setup.py | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Run the member area (/) and back office (/backoffice) with demo data: SQLite, in-process jobs, files for mail/SMS/fax.
run: install
	$(MESE) db upgrade
	$(MESE) demo
	COOKIE_SECURE=false $(MESE) serve --port $(PORT)

## Run the test suite against the machine's PostgreSQL and Redis, with a local SMTP server.
test: install-dev
	$(PY) -m pytest

## Regenerate the single initial migration from models/ (before the first release only).
migration: install-dev
	$(PY) -m tests.tools.regenerate_migration

clean:
	rm -rf $(VENV) var .pytest_cache

## Refresh the English catalogue after changing member-facing texts: translate the new entries of
## translations/en/LC_MESSAGES/messages.po, then run it again to compile messages.mo.
translations: install-dev
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k Message --no-location -o translations/messages.pot .
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete
	$(VENV)/bin/pybabel compile -d translations
