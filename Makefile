# Two commands on a fresh machine (see README): `make run` and `make test`.
# Both create .venv and install the locked, tested versions first: every package pinned with
# hashes in requirements.lock (Python 3.11, Linux x86_64), then the project itself, without deps.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
SRC = forecast tests benchmarks examples
STAMP = $(VENV)/.installed-from-lock

.PHONY: run test test-fast install sysdeps lint format lock clean check-install

# Re-runs whenever pyproject.toml or requirements.lock changes (the stamp is older than either).
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "only Python 3.11 is tested: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(STAMP)

# System tools the tests use: pdftotext (poppler-utils) to read the PDF report back, and a
# headless Chromium for the browser test. Installed with apt when running as root; otherwise
# those two tests say they are skipped and why.
sysdeps:
	@if command -v pdftotext >/dev/null && command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing poppler-utils and chromium (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils chromium >/dev/null; \
	else echo "note: apt-get install poppler-utils chromium to run the PDF-text and browser tests"; fi

run: install
	$(BIN)/forecast run

# The import contracts run only once .importlinter exists.
test: install sysdeps
	@if [ -f .importlinter ]; then echo "$(BIN)/lint-imports"; $(BIN)/lint-imports; fi
	$(BIN)/python -m pytest -q

# Everything but the tests marked slow (the Bayesian fits).
test-fast: install sysdeps
	@if [ -f .importlinter ]; then echo "$(BIN)/lint-imports"; $(BIN)/lint-imports; fi
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)

format: install
	$(BIN)/ruff format $(SRC)

# A non-editable install works from any folder: a fresh venv gets the locked dependencies and the
# project as a wheel (pip install .), then the main job and `python -m forecast` run in an empty
# folder, on the embedded data and models that ship inside the package. CI runs this after the tests.
CHECK_DIR ?= /tmp/forecast-check-install
check-install:
	rm -rf $(CHECK_DIR) && $(PYTHON) -m venv $(CHECK_DIR)/venv
	$(CHECK_DIR)/venv/bin/pip install --quiet --upgrade pip
	$(CHECK_DIR)/venv/bin/pip install --quiet --require-hashes -r requirements.lock
	$(CHECK_DIR)/venv/bin/pip install --quiet --no-deps .
	mkdir -p $(CHECK_DIR)/empty && cd $(CHECK_DIR)/empty && \
	  ../venv/bin/python -m forecast --help >/dev/null && \
	  ../venv/bin/forecast data show >/dev/null && \
	  ../venv/bin/forecast run --out x && test -s x/estimates.csv && test -s x/report.pdf && \
	  ../venv/bin/python -c 'import forecast, sys; sys.exit("site-packages" not in forecast.__file__)'
	@echo "check-install: OK (wheel install, run from an empty folder)"

# Regenerate requirements.lock with uv, from a throwaway venv (uv itself is not a project dependency).
# Versions already in the lock are kept; to move them: make lock LOCK_ARGS=--upgrade
# (or LOCK_ARGS='--upgrade-package pymc'). Then `make install` and `make test` before committing.
UV_VERSION ?= 0.13.9
LOCK_ARGS ?=
lock:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp" && "$$tmp/bin/pip" install --quiet "uv==$(UV_VERSION)" && \
	"$$tmp/bin/uv" pip compile pyproject.toml --extra test --extra bench \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes \
	  --custom-compile-command "make lock" $(LOCK_ARGS) -o requirements.lock >/dev/null

clean:
	rm -rf $(VENV) reports/*.html reports/*.pdf
