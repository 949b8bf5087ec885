# Two entry points: `make train` (set up, then train and evaluate the default
# model) and `make test` (set up, then run the test suite). Both create a
# virtualenv in .venv and install the project into it on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup train test lint corpus clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: 2.13.0 is the CPU wheel; an open range would pull a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,onnx,tracking]'
	touch $(STAMP)

train: $(STAMP)
	$(PY) scripts/compile_corpus.py --check
	$(VENV)/bin/accelerate launch --num_processes 1 training/train.py $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

corpus: $(STAMP)
	$(PY) scripts/compile_corpus.py
	$(PY) scripts/corpus_stats.py --write annotations/README.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
