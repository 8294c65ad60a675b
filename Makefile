# The README's commands. `make test` and `make demo` create .venv when it is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: install test lint demo bench docs clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	touch $@

install: $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/mypy
	$(PY) -m llmops.cli.reference --check

demo: $(STAMP)
	PY=$(PY) bash scripts/demo.sh

bench:
	$(MAKE) install EXTRAS=bench
	$(PY) benchmarks/tracking_vs_mlflow.py
	$(PY) benchmarks/prompts_render.py
	$(PY) benchmarks/datasets_vs_dvc.py
	$(PY) benchmarks/train_overhead.py
	$(PY) benchmarks/trace_ingest.py --mlflow-python $(PY) --mlflow-spans 20000

docs: $(STAMP)
	$(PY) -m llmops.cli.reference

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
