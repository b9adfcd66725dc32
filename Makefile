# The two commands a new user needs: `make demo` and `make test`. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# Extra pytest arguments, e.g. `make test ARGS="-k contracts --reuse-db"`.
ARGS ?=

.PHONY: demo demo-setup serve test test-browser lint format install install-dev worker beat bench bench-sync bench-queue bench-import bench-usage bench-reports clean

## Run the back-office with demo data on the embedded default (SQLite, Celery eager).
demo: demo-setup serve

## Everything `make demo` does before serving: install, migrate, load demo data.
demo-setup: install
	@echo "Migrating. The first time takes about two minutes (dj-stripe's migrations)."
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_data

serve: install
	@echo "Serving the admin at http://127.0.0.1:$(PORT)/admin/ (Ctrl-C stops it)"
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

## Install what the tests need and run the whole suite (DATABASE_URL picks PostgreSQL).
test: install-dev
	$(PY) -m pytest $(ARGS)

## The admin in headless Chromium (browser_tests/), on the demo data: a crawl of every list, one
## object of each and the add pages as admin, finance and manager, then the journeys through the
## real forms; fails on a server error or a browser console error. Needs Debian's chromium and
## chromium-driver (.ci/run installs them). Screenshots go to $(BROWSER_ARTIFACTS). ~5 min on
## PostgreSQL, a minute of it building the test database.
BROWSER_ARTIFACTS ?= browser-artifacts
test-browser: install-dev
	BROWSER_ARTIFACTS="$(BROWSER_ARTIFACTS)" $(PY) -m pytest browser_tests $(ARGS)

## Lint, format check, import contracts, types, migrations and Django's checks: what .ci/run
## checks before tests.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy backoffice stripe_sync file_imports customers billing payments reports demo browser_tests
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## A Celery worker and the beat scheduler, for a real broker (CELERY_BROKER_URL).
worker: install
	$(VENV)/bin/celery -A backoffice worker --loglevel INFO

beat: install
	$(VENV)/bin/celery -A backoffice beat --loglevel INFO

bench: install-dev
	$(PY) bench/admin_pages.py

## The Stripe sync figures (our backfill against dj-stripe's, the webhook endpoint): ~8 min.
bench-sync: install-dev
	$(PY) bench/sync.py

## The invoice review queue's pages at 1,000 and 100,000 invoices (time, queries, EXPLAIN): ~3 min.
bench-queue: install-dev
	$(PY) bench/invoice_queue.py

## The contract imports (10,000 lines) against COPY and django-import-export; 100,000 for memory: ~5 min.
bench-import: install-dev
	$(PY) bench/contract_import.py

## Usage to Stripe's meters: 100,000 figures as meter events against canned answers (our cost per
## event, requests, Stripe's rate limit beside it), a correction of each, and memory: ~13 min.
bench-usage: install-dev
	$(PY) bench/usage_push.py

## The finance reports at 100,000 invoices and 1,000,000 lines (PostgreSQL), and the ledger's speed.
bench-reports: install-dev
	$(PY) bench/reports.py

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

$(VENV)/.installed-runtime: requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed-runtime $@

clean:
	rm -rf $(VENV) db.sqlite3 test_db.sqlite3 staticfiles .pytest_cache .mypy_cache .ruff_cache
