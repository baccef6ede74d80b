# make build  - build the demo recipe (dataset_scripts/demo.yaml) into build/demo, offline
# make test   - run the test suite (needs only what is in this repository)
# make check-shared - checks on the larger real data in ../shared/data, and the slow variants of tests
# make check-install - a light install (no extras) in a fresh venv builds without torch (needs the index)

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: build test check-shared check-install install clean

# torch goes in first and pinned: left to the resolver, transformers would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=77"
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[all,test]"
	touch $(STAMP)

install: $(STAMP)

build: $(STAMP)
	$(BIN)/ftbuild build dataset_scripts/demo.yaml --output build/demo --overwrite

# Two workers (pytest-xdist): the suite is mostly CPU-bound model and build steps; each worker loads
# the session's models once.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

check-shared: $(STAMP)
	$(BIN)/python -m pytest -q -m 'shared or slow'

check-install: $(STAMP)
	$(BIN)/python -m pytest -q -m install

clean:
	rm -rf build .pytest_cache .hypothesis
