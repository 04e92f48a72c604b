# Set-up and checks in two commands: `make demo` and `make test`.
# PYTHON picks the interpreter that creates .venv; TORCH_SPEC the torch to install when none is present
# (a CPU build by default; for CUDA: make demo TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124").
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= examples/fashion_mnist_default.yaml

.PHONY: studies-page studies-keep setup data postgresql browser demo test lint clean docs docs-serve

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(BIN)/python
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"

# Debian's dataset-fashion-mnist where apt works; otherwise dnnconf downloads the files on first use.
data:
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
	  echo "Fashion-MNIST: /usr/share/datasets/fashion-mnist"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	    || echo "apt-get could not install dataset-fashion-mnist; dnnconf will download Fashion-MNIST"; \
	else \
	  echo "no apt: dnnconf will download Fashion-MNIST into ~/.cache/dnnconf/fashion_mnist on first use"; \
	fi

# Debian's postgresql for the test of sweeps sharing a study on a real server (skipped where it is missing).
postgresql:
	@if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "PostgreSQL: installed"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	    || echo "apt-get could not install postgresql; the PostgreSQL sweep test will be skipped"; \
	else \
	  echo "no apt (or not root): the PostgreSQL sweep test will be skipped"; \
	fi

# Debian's chromium (and a small Chinese font) for tests/report's headless-browser checks of the HTML pages;
# without it those tests are skipped, with the reason.
browser:
	@if command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  echo "chromium: $$(command -v chromium)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null) \
	    || echo "apt-get could not install chromium; the browser tests will be skipped"; \
	else \
	  echo "no apt: install chromium for the browser tests (tests/report/test_browser.py), or they are skipped"; \
	fi

demo: setup data
	$(BIN)/dnnconf train $(CONFIG) --out runs/demo --force

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache --no-logo

test: setup data postgresql browser lint docs
	$(BIN)/python -m pytest

# The documentation site (docs/, English and Chinese) into site/, strict: a broken link, a missing
# translation or a warning fails it. docs-serve serves it at http://127.0.0.1:8000 while you edit.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir site

# docs/studies.md and docs/studies.zh.md from the kept study folders (docs/studies-data/: each study's
# results.csv, study.json, summary.md and plots; tests/docs/test_studies_page.py checks they agree)
# Keep a finished study folder for the page: make studies-keep FROM=runs/optimizers-full STUDY=optimizers
# copies what the page reads (results.csv, study.json, summary.md, lr-find.json, the plots, and with
# --reference keras reference-keras/results.csv and summary.md) into docs/studies-data/STUDY/; not the runs, nor
# Keras's per-seed files.
studies-keep:
	@test -n "$(FROM)" -a -n "$(STUDY)" -a -f "$(FROM)/results.csv" \
	  || { echo "usage: make studies-keep FROM=<study folder with a results.csv> STUDY=<study name>"; exit 2; }
	@for file in results.csv study.json summary.md lr-find.json reference-keras/results.csv reference-keras/summary.md; do \
	  if [ -f "$(FROM)/$$file" ]; then mkdir -p "$$(dirname docs/studies-data/$(STUDY)/$$file)" \
	    && cp "$(FROM)/$$file" "docs/studies-data/$(STUDY)/$$file" && echo "kept $$file"; fi; \
	done
	@for png in "$(FROM)"/*.png; do [ -f "$$png" ] && cp "$$png" docs/studies-data/$(STUDY)/ && echo "kept $$png"; done; true

studies-page: setup
	$(BIN)/dnnconf study report docs/studies-data/* --template docs/snippets/studies-template.md --out docs/studies.md
	$(BIN)/dnnconf study report docs/studies-data/* --lang zh --template docs/snippets/studies-template.zh.md --out docs/studies.zh.md

docs-serve: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs serve

clean:
	rm -rf $(VENV) runs site .pytest_cache .ruff_cache
