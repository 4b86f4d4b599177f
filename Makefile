# The two commands a newcomer needs:
#   make demo   sets up .venv, starts the local server, streams a real speech sample, shows the live transcript
#   make test   sets up .venv and runs the whole test suite (what CI runs)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
STAMP := $(VENV)/.installed

.PHONY: setup demo serve test test-fast lint format bench bench-capacity clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt scripts/install_server_requirements.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU build of torch first: silero-vad depends on torch, and an unpinned one is a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) scripts/install_server_requirements.py
	touch $(STAMP)

demo: setup
	$(PY) scripts/demo.py --port $(PORT)

serve: setup
	PORT=$(PORT) $(PY) scripts/serve_local.py --port $(PORT)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: setup lint
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(PY) -m pip install -q -r bench/requirements.txt
	$(PY) bench/run.py $(BENCH_ARGS)

# CPU side of a replica with the GPU simulated: server on core 0, load generator on core 1 (see bench/capacity.py)
bench-capacity: setup
	$(PY) -m pip install -q -r bench/requirements.txt
	$(PY) bench/capacity.py $(CAPACITY_ARGS)

clean:
	rm -rf .build .pytest_cache .ruff_cache
