# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint format

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed  ## install, then serve the app on http://localhost:7860
	GRADIO_ANALYTICS_ENABLED=False $(PY) app.py

test: $(VENV)/.installed  ## install, then lint and run every test (slow ones included)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	HF_HUB_OFFLINE=1 $(PY) -m pytest

lint: $(VENV)/.installed
	$(PY) -m ruff check .

format: $(VENV)/.installed
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .
