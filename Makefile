# One-command set-up and runs. `make test` is what CI runs (.ci/run); `make demo` is the main job.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch first: everything runs on the first backend, and torch trains these small networks fastest on a CPU; the
# tests marked `backend` (the network, the training steps, the detectors, estimator checks, saved models) run again
# on each other backend. Pipelines, servers, the CLI and file rules do not depend on the backend.
BACKENDS ?= torch tensorflow jax
PYTEST_ARGS ?= --durations=10

# Compiled bytecode makes every later `import keras` 2-3x faster; some machines disable it.
export PYTHONDONTWRITEBYTECODE :=
# torch with 2 threads on 2 busy cores ran up to 100x slower here.
export OMP_NUM_THREADS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
# uv ignores pip's find-links unless told; that is where the CPU build of torch lies.
export UV_FIND_LINKS := $(PIP_FIND_LINKS)

# `make check`, the inner loop: the linter, the formatter's check, the type checker, then the unit tests of the
# model, the detector, the decisions, the tables, the plots, the settings and saved models on one backend (no server,
# browser, Spark or pipeline run); under 3 minutes.
CHECK_TESTS ?= tests/test_vae.py tests/test_elbo.py tests/test_detector.py tests/test_calibration.py \
	tests/test_latent_mixture.py tests/test_preprocessing.py tests/test_schema.py tests/test_settings.py \
	tests/test_tables.py tests/test_windows.py tests/test_series_metrics.py tests/test_image_files.py \
	tests/test_review_plots.py tests/test_speed_guard.py tests/test_mixed_types_table.py \
	tests/test_generative.py tests/test_saved_models.py tests/test_modalities.py tests/security/test_output_property.py \
	tests/security/test_untrusted_models.py

.PHONY: install chromium java check test docs demo bench speed clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --python $(PY) --compile-bytecode --quiet -e '.[jax,torch,dev,spark,docs]'
	touch $@

install: $(VENV)/.installed

# Headless Chromium for the MLflow UI test (Debian's package; Playwright drives it).
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Java 17 for Spark (Debian's package), when there is no java on PATH.
java:
	@command -v java >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	KERAS_BACKEND=$${KERAS_BACKEND:-torch} $(PY) -m pytest -q -n 2 $(CHECK_TESTS)

# The whole suite on the first backend, then the tests marked `backend` on each other one, then the docs site.
test: install chromium java
	@set -e; first=1; for b in $(BACKENDS); do \
	  echo "=== KERAS_BACKEND=$$b ==="; \
	  if [ $$first = 1 ]; then sel=""; else sel="backend"; fi; \
	  KERAS_BACKEND=$$b $(PY) -m pytest -q -n 2 -m "$$sel" $(PYTEST_ARGS); \
	  first=0; \
	done
	$(MAKE) docs

# The documentation site, into docs/_build/html: warnings are errors (-W) and every cross-reference must resolve
# (-n); the gallery (docs/examples) runs at every build.
docs: install
	rm -rf docs/_build docs/auto_examples docs/generated
	$(PY) -m sphinx -W --keep-going -n -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

demo: install
	KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(PY) -m pipelines.demo

# Benchmarks print tables and write CSVs under benchmarks/results/ (see benchmarks/RESULTS.md).
bench: install
	KERAS_BACKEND=$${KERAS_BACKEND:-jax} $(PY) benchmarks/adbench.py

speed: install
	$(VENV)/bin/uv pip install --python $(PY) --quiet -e '.[jax,torch,dev,spark,docs,bench]'
	$(PY) benchmarks/speed.py

clean:
	rm -rf $(VENV) mlflow.db mlruns mlartifacts outputs .pytest_cache docs/_build docs/auto_examples docs/generated
