# tokenplan: two commands on a fresh machine with Python 3.11 and make.
#   make run   -> set up .venv with pinned dependencies and run the whole pipeline on the demo
#   make test  -> same set-up plus dev extras, then the test suite
#   make notebook -> JupyterLab in notebooks/ from the project's environment (dev extras)
#   make docs  -> the documentation site (docs/, mkdocs.yml) built into site/, strict
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export MPLBACKEND := Agg
export OMP_WAIT_POLICY := PASSIVE

.PHONY: run test notebook viz docs install install-dev lock clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/kedro run

# Two workers by default (CI has 2 cores); each test file runs whole on one worker, so a
# module's fixtures (a kedro run, a Spark session) are built once; the longest files are handed
# out first (tests/xdist_scheduling.py). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: install-dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# JupyterLab on the project's venv, opened in notebooks/ (the notebooks find the project
# root themselves). Prints the URL with its token; Ctrl-C stops it.
notebook: install-dev
	$(BIN)/jupyter lab --notebook-dir=notebooks --no-browser

# kedro-viz: the pipelines and the catalog's layers at http://127.0.0.1:4141
viz: install-dev
	$(BIN)/kedro viz run --no-browser

# The documentation site in site/ (strict: a broken link or anchor fails the build).
# Preview while editing: .venv/bin/mkdocs serve (http://127.0.0.1:8000).
docs: install-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Re-resolve the pins after changing dependencies in pyproject.toml.
lock: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip freeze --exclude-editable | grep -v '^tokenplan' > constraints.txt

clean-venv:
	rm -rf $(VENV)
