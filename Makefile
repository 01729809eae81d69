# The two README commands: `make run` (demo site) and `make test` (whole suite).
# Each sets up its own virtual environment from the pinned requirements on first use: `run`
# installs requirements.txt (the demo site's runtime), `test` and `lint` requirements-test.txt
# (that, plus the test and code-health tools), `bench` requirements-bench.txt (the runtime
# plus the library the benchmark compares against). All three share one venv.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PORT ?= 8000
# DJANGO overrides the pinned Django (the second CI job: DJANGO=Django==6.1.3).
DJANGO ?=
BIN := $(VENV)/bin
# One stamp per requirements set (and per Django override): a stamp is older than a file its
# set reads (its own, and requirements.txt which each includes) when that file changed, and
# make reinstalls the set.
TAG := $(subst =,-,$(DJANGO))
RUN_STAMP := $(VENV)/.installed$(TAG)
TEST_STAMP := $(VENV)/.installed-test$(TAG)
BENCH_STAMP := $(VENV)/.installed-bench$(TAG)

# pip install -r FILE, then the Django override (after, so that it wins), then the stamp.
define install
$(BIN)/python -m pip install --quiet -r $(1)
$(if $(DJANGO),$(BIN)/python -m pip install --quiet "$(DJANGO)")
touch $@
endef

.PHONY: run test lint bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; run with PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): requirements.txt | $(BIN)/python
	$(call install,requirements.txt)

$(TEST_STAMP): requirements-test.txt requirements.txt | $(BIN)/python
	$(call install,requirements-test.txt)

$(BENCH_STAMP): requirements-bench.txt requirements.txt | $(BIN)/python
	$(call install,requirements-bench.txt)

# `make run PORT=8001` serves on another port. DJANGO_DEBUG defaults to True (development keys,
# plain HTTP) unless the environment or .env sets it; the superuser comes from DJANGO_SUPERUSER_*
# in either, and a failure to create it stops here with Django's reason.
run: $(RUN_STAMP)
	@grep -qsE '^(export )?DJANGO_DEBUG=' .env || export DJANGO_DEBUG="$${DJANGO_DEBUG:-True}"; \
	set -ex; \
	$(BIN)/python manage.py migrate --noinput; \
	$(BIN)/python manage.py demo_superuser; \
	exec $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff over every Python tree of the repository; mypy --strict over the app and the services
# the tests, the load test and the benchmark start.
lint: $(TEST_STAMP)
	$(BIN)/ruff check jwtauth project tests services loadtest benchmarks
	$(BIN)/ruff format --check jwtauth project tests services loadtest benchmarks
	$(BIN)/mypy jwtauth services

# `make bench BENCH_ARGS=--quick` for a trial; benchmarks/README.md lists the options. wrk (for
# the HTTP scenario) and redis-server are system programs: the run says how to install them.
bench: $(BENCH_STAMP)
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
