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

.PHONY: run test bench lint install clean browser

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

# Chromium for the browser tests, installed when missing and possible (root with apt-get, as
# CI is); otherwise those tests are skipped and pytest says why.
browser:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and chromium-driver for the console's browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq chromium chromium-driver >/dev/null; } \
	  || echo "could not install chromium: the browser tests will be skipped"; \
	else echo "no $(CHROMIUM) (install chromium and chromium-driver as root): the browser tests will be skipped"; fi

test: $(TEST_STAMP) browser
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
