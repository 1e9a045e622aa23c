# The two commands: `make run` (demo: web + worker + beat) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
export PYTHONDONTWRITEBYTECODE := 1
# One BLAS thread per process: one Celery process per core is the right shape (docs/operations.md).
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: run test install lint format migrate seed totp bench fast-dlib clean-var

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { echo "Could not create a virtualenv: on Debian run 'apt-get install python3-venv'." >&2; exit 1; }
	$(PY) -m pip install -q -U pip
	# --only-binary=dlib: never start the 9-minute from-source dlib build; dlib-bin provides the module.
	$(PY) -m pip install -q --only-binary=dlib -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput

seed: migrate
	DJANGO_DEBUG=1 $(PY) manage.py seed_demo

run: seed
	@echo
	@echo "LFR Portal: http://127.0.0.1:$(PORT)/   (API docs: http://127.0.0.1:$(PORT)/api/docs/)"
	@echo "Database: $${DATABASE_URL:-SQLite in var/}   Broker: $${CELERY_BROKER_URL:-embedded filesystem broker in var/broker}"
	@echo "Ctrl-C stops the web server, the worker and beat."
	@echo
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" DJANGO_DEBUG=1 PORT=$(PORT) $(VENV)/bin/honcho start -f Procfile

totp: install
	@DJANGO_DEBUG=1 $(PY) manage.py demo_totp $(user)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: install
	$(VENV)/bin/ruff check .
	DJANGO_SECRET_KEY=test-only-secret-key LFR_ENCODING_KEYS=$${LFR_ENCODING_KEYS:-dGVzdC1vbmx5LWtleS0wMDAwMDAwMDAwMDAwMDAwMDA=} $(VENV)/bin/pytest $(PYTEST_ARGS)

bench: install
	DJANGO_SECRET_KEY=bench-only-secret-key LFR_ENCODING_KEYS=$${LFR_ENCODING_KEYS:-YmVuY2gtb25seS1rZXktMDAwMDAwMDAwMDAwMDAwMDA=} $(PY) -m bench $(BENCH_ARGS)

# dlib built from source for this CPU (clang, -O3 -march=native, OpenBLAS) into a separate .venv-fastdlib;
# the wheel is cached in var/wheels/. `make bench` then reports both builds side by side.
fast-dlib:
	PYTHON=$(PYTHON) bash scripts/build_fast_dlib.sh

clean-var:
	rm -rf var
