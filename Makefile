# Two commands on a fresh machine (see README): `make run` and `make test`.
# Both create .venv and install the project with its declared dependencies first.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: run test install sysdeps lint clean

$(BIN)/forecast: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/forecast

install: $(BIN)/forecast

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

test: install sysdeps
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check forecast tests benchmarks examples

clean:
	rm -rf $(VENV) reports/*.html reports/*.pdf
