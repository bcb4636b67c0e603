# Two commands: `make demo` runs the platform, `make test` passes the tests. Both install
# what is missing first (Debian packages, a virtualenv with the project).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# ESLint for the map's scripts (eslint.config.mjs); part of `make test` and `make lint`.
JS_LINT := node_modules/.installed
ESLINT := node_modules/.bin/eslint maps/static
# mosquitto-dev, libmosquitto-dev and gcc build the broker guard plugin (backend/embedded/broker_guard.c).
# pango, pangoft2 and harfbuzz-subset are WeasyPrint's (PDF reports); fonts-wqy-microhei is the CJK font
# the PDFs embed (backend/api/report_print.py) and the one Chromium draws the pages with in the tests.
RUNTIME_PACKAGES := postgresql-15 postgresql-15-postgis-3 mosquitto mosquitto-dev libmosquitto-dev gcc libc6-dev \
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-wqy-microhei
TEST_PACKAGES := chromium chromium-driver fonts-wqy-microhei mosquitto-clients

.PHONY: demo test deps test-deps lint js-lint package-check bench clean

# Install the Debian packages in $(1) that are not installed yet (sudo when not root).
define ensure_packages
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  echo "installing Debian packages:$$missing"; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing; \
	fi
endef

deps: $(BIN)/.installed
	$(call ensure_packages,$(RUNTIME_PACKAGES))

test-deps: deps
	$(call ensure_packages,$(TEST_PACKAGES))

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || { \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -q && $$sudo apt-get install -y -q python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $@

demo: deps
	$(BIN)/riskmap up --simulate

test: test-deps $(JS_LINT)
	$(BIN)/ruff check .
	$(ESLINT)
	$(BIN)/pytest

# The wheel built, installed without extras in a fresh virtualenv, and run (also part of `make test`).
package-check: test-deps
	$(BIN)/pytest -q tests/test_package.py

lint: $(BIN)/.installed $(JS_LINT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(ESLINT)

# ESLint at the versions in package-lock.json: fetched from the npm registry once (npm comes with
# Debian's nodejs and npm when missing), then run offline from node_modules/.
$(JS_LINT): package.json package-lock.json
	@command -v npm >/dev/null || { \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

js-lint: $(JS_LINT)
	$(ESLINT)

bench: deps
	$(BIN)/python -m bench.risk
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.broadcast
	$(BIN)/python -m bench.plan
	$(BIN)/python -m bench.report

clean:
	-$(BIN)/riskmap services down
	rm -rf .riskmap-test test-artifacts
