# Quick start:  make lab   (set up .venv and open the series in Jupyter Lab)
#               make test  (set up .venv and run the tests and every notebook, smoke profile)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: setup lab test unit execute prefetch benchmark clean help

help:
	@echo "make setup      create .venv and install the pinned packages (the other targets do it when needed)"
	@echo "make lab        set up and open the series in Jupyter Lab"
	@echo "make test       set up, then run unit tests and execute every notebook (smoke profile)"
	@echo "make unit       unit tests only"
	@echo "make execute    re-run every notebook in place (ADVLEARN_PROFILE, default workshop) to refresh outputs"
	@echo "make prefetch   download and check the dataset and VGG-19 weights before going offline"
	@echo "make benchmark  attack throughput benchmark"
	@echo "make clean      remove .venv, trained models (artifacts/) and caches"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (advlearn)" >/dev/null
	touch $(STAMP)

# Jupyter refuses to start as root (containers, some cloud VMs) without --allow-root.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

# pytest exits 5 when it collects nothing; that is not a failure here.
test: $(STAMP)
	ADVLEARN_PROFILE=smoke $(PY) -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider tests $(NOTEBOOKS); \
	  status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; status=0; fi; exit $$status

unit: $(STAMP)
	$(PY) -m pytest -q tests

execute: $(STAMP)
	$(PY) scripts/execute_notebooks.py

prefetch: $(STAMP)
	$(PY) -m helpers.prefetch

benchmark: $(STAMP)
	$(PY) benchmarks/attack_throughput.py

clean:
	rm -rf $(VENV) artifacts .pytest_cache
