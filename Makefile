# The two commands of the quick start:
#   make demo   set up and run the main job (python -m export.all) offline on the shipped weights + sample
#   make test   set up and run the test suite (what CI runs)
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.lock
	bash android_demo/core/run_tests.sh --setup  # pinned kotlin-compiler from npm, compiled once
	touch $@

demo: setup
	$(PY) -m export.all

bench: setup
	$(PY) -m export.all --out artifacts
	$(PY) -m benchmarks.run --artifacts artifacts --out reports/bench
	$(PY) -m benchmarks.report --results reports/bench

test: setup
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) artifacts reports .pytest_cache
