# The two README commands: `make run` (demo site) and `make test` (whole suite).
# Each sets up its own virtual environment from the pinned requirements on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PORT ?= 8000
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

# `make run PORT=8001` serves on another port. DJANGO_DEBUG defaults to True (development keys,
# plain HTTP) unless the environment or .env sets it; the superuser comes from DJANGO_SUPERUSER_*
# in either, and a failure to create it stops here with Django's reason.
run: $(STAMP)
	@grep -qsE '^(export )?DJANGO_DEBUG=' .env || export DJANGO_DEBUG="$${DJANGO_DEBUG:-True}"; \
	set -ex; \
	$(BIN)/python manage.py migrate --noinput; \
	$(BIN)/python manage.py demo_superuser; \
	exec $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

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

# Re-extract jwtauth's messages into every catalogue under jwtauth/locale and compile them
# (needs GNU gettext); then translate whatever is new or fuzzy (docs/i18n.md).
.PHONY: messages
messages: $(STAMP)
	cd jwtauth && env -u DJANGO_SETTINGS_MODULE $(abspath $(BIN))/python -P -m django \
	  makemessages --all --no-obsolete --add-location=file
	cd jwtauth && env -u DJANGO_SETTINGS_MODULE $(abspath $(BIN))/python -P -m django \
	  compilemessages
