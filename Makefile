# herald: two set-up commands, `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Two stamps: `make run` needs only herald itself; `make test` (and lint, bench) also the test
# extras. The test stamp refreshes the run stamp, so `make run` after `make test` installs nothing.
RUN_STAMP  := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
CONFIG ?= config/herald.toml

.PHONY: run test bench lint install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $(TEST_STAMP) $(RUN_STAMP)

install: $(TEST_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/herald run --config $(CONFIG)

test: $(TEST_STAMP)
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
	$(PY) bench/field.py
	$(PY) bench/report.py

lint: $(TEST_STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench
	$(PY) -m mypy

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
