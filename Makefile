# The two README commands: `make run` (demo site) and `make test` (whole suite).
# Each sets up its own virtual environment from the pinned requirements on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
# DJANGO overrides the pinned Django (the second CI job: DJANGO=Django==6.1.3).
DJANGO ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed$(subst =,-,$(DJANGO))

.PHONY: run test lint bench clean

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; run with PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(if $(DJANGO),$(BIN)/python -m pip install --quiet "$(DJANGO)")
	touch $(STAMP)

run: $(STAMP)
	DJANGO_DEBUG=$${DJANGO_DEBUG:-True} $(BIN)/python manage.py migrate --noinput
	@if [ -n "$$DJANGO_SUPERUSER_USERNAME" ] && [ -n "$$DJANGO_SUPERUSER_PASSWORD" ]; then \
		DJANGO_DEBUG=$${DJANGO_DEBUG:-True} $(BIN)/python manage.py createsuperuser --noinput \
		|| echo "(superuser not created; it may exist already)"; fi
	DJANGO_DEBUG=$${DJANGO_DEBUG:-True} $(BIN)/python manage.py runserver 127.0.0.1:8000

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check jwtauth project tests
	$(BIN)/ruff format --check jwtauth project tests
	$(BIN)/mypy jwtauth

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .mypy_cache .ruff_cache
