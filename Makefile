# herald: two set-up commands, `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Two stamps: `make run` needs only herald itself; `make test` (and lint, bench) also the test
# extras. The test stamp refreshes the run stamp, so `make run` after `make test` installs nothing.
RUN_STAMP  := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
CONFIG ?= config/herald.toml
# The console's browser tests (tests/browser) drive Debian's Chromium through its driver.
CHROMIUM     ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver

.PHONY: run test bench lint install clean packages

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(PY)
	rm -rf src/herald.egg-info  # left by the distribution's old name, herald (now herald-sms)
	$(PY) -m pip install -q -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(PY)
	rm -rf src/herald.egg-info  # left by the distribution's old name, herald (now herald-sms)
	$(PY) -m pip install -q -e '.[test]'
	touch $(TEST_STAMP) $(RUN_STAMP)

install: $(TEST_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/herald run --config $(CONFIG)

# Debian packages the tests drive, installed when missing and possible (root with apt-get, as
# CI is): Chromium and its driver for the console's browser tests, Kannel for the field
# benchmark's smoke test. Otherwise those tests are skipped and pytest says why.
packages:
	@missing=""; \
	{ [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; } || missing="chromium chromium-driver"; \
	command -v bearerbox >/dev/null 2>&1 || missing="$${missing:+$$missing }kannel"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing $$missing for the browser and Kannel tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq $$missing >/dev/null; } \
	  || echo "could not install $$missing: the tests that need them will be skipped"; \
	else echo "missing $$missing (install them as root): the tests that need them will be skipped"; fi

test: $(TEST_STAMP) packages
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench
	$(PY) -m mypy
	$(PY) -m pytest -q

bench: $(TEST_STAMP)
	$(PY) bench/text.py
	$(PY) bench/codec.py
	$(PY) bench/smpp.py
	$(PY) bench/simulator.py
	$(PY) bench/e2e.py
	$(PY) bench/e2e.py --processes 2
	$(PY) bench/e2e.py --receipt-delay 200-2000
	$(PY) bench/fairness.py
	$(PY) bench/throttling.py
	$(PY) bench/field.py
	$(PY) bench/report.py
	$(PY) bench/messages.py
	$(PY) bench/console.py
	$(PY) bench/retention.py

lint: $(TEST_STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench
	$(PY) -m mypy

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
