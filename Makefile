# Two commands on a fresh machine (see README): `make run` and `make test`.
# Both create .venv and install the project with its declared dependencies first.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: run test install lint clean

$(BIN)/forecast: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/forecast

install: $(BIN)/forecast

run: install
	$(BIN)/forecast run

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check forecast tests benchmarks examples

clean:
	rm -rf $(VENV) reports/*.html reports/*.pdf
