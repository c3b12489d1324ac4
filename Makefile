# The two commands a newcomer needs: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STORE ?= models
PORT ?= 8000
HOST ?= 127.0.0.1
# torch from plain pip: on this project's build machines it resolves from local disk.
TORCH ?= torch torchvision
# Test processes (pytest-xdist): while one waits on a server or a subprocess, the other runs.
# A module's tests stay in one process, so its module-scoped server or models are made once.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope

.PHONY: install serve test test-fast test-programs lint bootstrap bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The MNIST defaults first (about a minute on two cores); the face models then train in
# the background (about eight minutes; log in $(STORE)/.faces-bootstrap.log) while the API
# already serves. Names already in the store are skipped, so later runs start at once.
serve: install
	$(PY) -m trainer --store $(STORE) bootstrap --only mnist
	$(PY) -m trainer --store $(STORE) --quiet bootstrap --only faces > $(STORE)/.faces-bootstrap.log 2>&1 &
	AE_STORE_DIR=$(STORE) $(PY) -m service --host $(HOST) --port $(PORT)

bootstrap: install
	$(PY) -m trainer --store $(STORE) bootstrap

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# The whole suite, on a fresh machine too: the Debian programs some tests drive (chromium,
# chromedriver, nginx) are installed first where apt-get and root allow; elsewhere those tests
# are skipped with the reason. Load and soak tests run short here; .ci/run sets full lengths.
test: lint test-programs
	$(PYTEST) --durations=15

test-programs:
	@sh tests/system-packages.sh

test-fast: install
	$(PYTEST) -m "not slow"

bench: install
	$(PY) bench/ops_figures.py --store bench-volume/models
	$(PY) bench/mnist_figures.py --store bench-volume/models
	$(PY) bench/faces_figures.py
	$(PY) bench/cvae_quality.py --ablations
	$(PY) bench/vae_quality.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
