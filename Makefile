# Two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
# Development defaults; anything set in the environment wins (docker-compose sets its own).
export DEBUG ?= true
export OCPP_ALLOW_UNKNOWN_CHARGE_POINTS ?= true

.PHONY: run test install migrate lint typecheck demo bench worker beat clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the pinned dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py runplatform --port $(PORT)

demo: migrate
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py demo_tariff
	$(BIN)/python manage.py runplatform --port $(PORT) --demo 3

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy csms ocpp_gateway billing wallet simulator

worker: install
	$(BIN)/celery -A csms worker -l info

beat: install
	$(BIN)/celery -A csms beat -l info

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache .mypy_cache .ruff_cache
