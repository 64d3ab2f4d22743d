# Two commands a person needs: `make run` and `make test`. Both work on a fresh machine with
# nothing but Python >= 3.11 and make; everything else is installed into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Two test processes, one test file each at a time: most tests wait on servers, workers and
# subprocesses, so two halve the run even on two cores. `PYTEST_PARALLEL=` runs them serially.
PYTEST_PARALLEL ?= -n 2 --dist loadfile

.PHONY: run test test-matrix test-latest constraints lint install clean

# Installs are pinned to the tested versions in constraints.txt; `make test-latest` runs the
# suite against the newest releases in a venv of its own, so breakage is seen before users see
# it, and `make constraints` rewrites the pins from such a venv (review the diff, then commit).
LATEST_VENV ?= .venv-latest

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/mlharbor serve

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# Every catalog model x every task x every column type along the user's whole path (train,
# predict, ONNX, batch score, export, drift); `make test` runs a slice of it.
test-matrix: $(STAMP)
	MLHARBOR_TEST_MATRIX=full $(BIN)/python -m pytest $(PYTEST_PARALLEL) tests/test_user_path_matrix.py $(PYTEST_ARGS)

# mypy reads its files and settings from pyproject.toml: strict on the core packages.
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

$(LATEST_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/pip install --quiet --upgrade -e '.[test]'
	touch $@

test-latest: $(LATEST_VENV)/.installed
	$(LATEST_VENV)/bin/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

constraints: test-latest
	{ sed -n '1,2p' constraints.txt; $(LATEST_VENV)/bin/pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) $(LATEST_VENV) .pytest_cache .ruff_cache .mypy_cache
