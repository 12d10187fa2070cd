# Pizarra: the two commands are `make run` and `make test`; everything else supports them.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv run test test-unit test-integration test-web web web-build lint format migrate clean-data bench-deps

help:
	@echo "make run               serve on http://127.0.0.1:5000 (embedded PostgreSQL/Redis when DATABASE_URL/REDIS_URL are unset)"
	@echo "make test              the whole suite on real PostgreSQL and Redis (TEST_DATABASE_URL/TEST_REDIS_URL or embedded)"
	@echo "make test-unit         unit tests only"
	@echo "make test-integration  integration tests only"
	@echo "make test-web          the student page's component tests (Vitest; needs Node.js)"
	@echo "make web-build         build the student page into web/dist (make run builds it when missing)"
	@echo "make lint              ruff (check and format) and mypy"
	@echo "make migrate           apply pending migrations and seed data"
	@echo "make clean-data        delete the embedded databases under .data/ (asks first)"
	@echo "make bench-deps        what bench/deployment.py needs: Debian's haproxy (apt-get), the dev venv"

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

# The student page (web/): Node.js and npm build it; the backend runs without them.
WEB_STAMP := web/node_modules/.installed

$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $(WEB_STAMP)

web:
	@if [ -f web/dist/index.html ]; then :; \
	elif command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web-build; \
	else echo "npm not found: the student page at / is not built (the API and Socket.IO work without it; install Node.js 20+ and npm, then make web-build)"; fi

web-build: $(WEB_STAMP)
	cd web && npm run build

run: $(STAMP) web
	$(PY) run.py

# The Python suite (its tests/e2e drive the page in Chromium when Node.js and Chromium are
# here, and say so when they are skipped), then the page's component tests.
test: $(STAMP)
	$(PY) -m pytest
	@$(MAKE) --no-print-directory test-web

test-web:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(WEB_STAMP) && cd web && npx vitest run; \
	else echo "SKIPPED: the student page's component tests (Vitest) need Node.js 20+ and npm, not found"; fi

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: $(STAMP)
	$(PY) run.py --prepare-only

clean-data:
	@printf "Delete .data/ (embedded PostgreSQL and Redis data)? [y/N] " && read ans && [ "$$ans" = y ] && rm -rf .data && echo "deleted" || echo "kept"

# The multi-process load bench (bench/deployment.py, lesson_load.py --deploy) puts Debian's
# HAProxy in front of the gunicorn processes; psutil comes with the dev venv.
bench-deps: $(STAMP)
	@if command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; then echo "haproxy: $$( (command -v haproxy || echo /usr/sbin/haproxy) )"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "== installing Debian's haproxy for bench/deployment.py ==" && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; \
	else echo "haproxy is missing: install it (Debian/Ubuntu: sudo apt-get install haproxy)" >&2; exit 1; fi
