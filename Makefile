# TRM developer commands. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TRM_DATA_DIR ?= $(CURDIR)/var

.PHONY: demo scenario run test lint fmt typecheck check install messages clean

$(STAMP): pyproject.toml requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## Start the demo federation: Moldova, Romania, Serbia and North Macedonia nodes on
## http://127.0.0.1:8101-8104 with fictional users and the CTDC records (docs/demo.md).
## Ctrl-C stops every node; running it again resumes (data in ./var/demo).
demo: $(STAMP)
	$(BIN)/python -m trm.demo up --replay 40 $(DEMO_ARGS)

## With `make demo` running (another terminal): walk an adult and a child case through the
## five SOPs between Serbia and Moldova, printing each step (docs/demo.md#the-guided-scenario)
scenario: $(STAMP)
	$(BIN)/trm demo scenario $(SCENARIO_ARGS)

## Start a development node on http://127.0.0.1:8000 with an SQLite database in ./var
run: $(STAMP)
	TRM_ENV=development $(BIN)/trm keys init --if-missing
	TRM_ENV=development $(BIN)/trm migrate --noinput
	TRM_ENV=development $(BIN)/trm createadmin --if-none
	TRM_ENV=development $(BIN)/trm guidance seed
	@# The worker (reminders, reflection-period expiry) runs beside the server
	@# and stops with it.
	TRM_ENV=development sh -c '$(BIN)/trm worker --interval 300 & worker=$$!; \
		trap "kill $$worker 2>/dev/null" EXIT INT TERM; \
		$(BIN)/trm serve --host 127.0.0.1 --port 8000'

## Run the test suite (SQLite by default; set DATABASE_URL=postgres://… for PostgreSQL)
test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench conftest.py
	$(BIN)/ruff format --check src tests bench conftest.py

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench conftest.py
	$(BIN)/ruff format src tests bench conftest.py

typecheck: $(STAMP)
	$(BIN)/mypy src

check: lint typecheck test

## Re-extract and compile translations (needs GNU gettext)
messages: $(STAMP)
	cd src/trm && TRM_ENV=development ../../$(BIN)/trm makemessages -l bg -l ro --no-obsolete -i "*/tests/*"
	cd src/trm && TRM_ENV=development ../../$(BIN)/trm compilemessages

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
