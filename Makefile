# herald: two set-up commands, `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CONFIG ?= config/herald.toml

.PHONY: run test bench lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/herald run --config $(CONFIG)

test: $(STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/text.py
	$(PY) bench/codec.py
	$(PY) bench/smpp.py
	$(PY) bench/simulator.py
	$(PY) bench/e2e.py
	$(PY) bench/e2e.py --processes 2
	$(PY) bench/e2e.py --receipt-delay 200-2000
	$(PY) bench/report.py

lint: $(STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
