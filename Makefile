# Quick start:  make lab   (set up .venv and open the series in Jupyter Lab)
#               make test  (set up .venv and run the tests and every notebook, smoke profile)
PYTHON ?= python3
VENV   ?= .venv
# TensorFlow 2.21 and the pinned numpy 2.4, matplotlib 3.11, ipykernel 7.4 and hypothesis 6.170 need one of these.
SUPPORTED_PYTHONS := 3.11 3.12 3.13
KERNEL := advlearn
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
SOLUTIONS := $(sort $(wildcard solutions/[0-9]*.ipynb))

.PHONY: setup python-version kernel check student slides prepare lab test unit lint execute prefetch benchmark compat models clean help

help:
	@echo "make setup      create .venv and install the pinned packages (the other targets do it when needed)"
	@echo "                PYTHON=python3.12 picks the Python that creates .venv (3.11 to 3.13)"
	@echo "make kernel     also register the '$(KERNEL)' kernel for your own Jupyter or VS Code (~/.local/share/jupyter)"
	@echo "make lab        set up and open the series in Jupyter Lab"
	@echo "make check      pre-workshop check: is this machine ready? (offline, one screen, about 15 s)"
	@echo "make test       set up, then run unit tests and execute every notebook and solution (smoke profile)"
	@echo "make unit       unit tests only"
	@echo "make lint       ruff on helpers, scripts, tests and benchmarks (tests/test_lint.py runs it too)"
	@echo "make student    write student/: the notebooks without outputs or solutions, ready to hand out (offline)"
	@echo "make slides     write slides/: reveal.js slides of every notebook, usable offline (press s for notes)"
	@echo "make prepare    give every notebook its slides, presenter notes, kernel, Colab cell (after editing one)"
	@echo "make execute    re-run every notebook in place (ADVLEARN_PROFILE, default workshop) to refresh outputs;"
	@echo "                fails when a claim of a notebook no longer holds. ONLY=notebooks/03_*.ipynb runs some"
	@echo "make models     save the ready-trained models (pretrained/) into artifacts/workshop/; or ADVLEARN_PRETRAINED=1 make lab"
	@echo "make prefetch   download and check the dataset and VGG-19 weights before going offline"
	@echo "make benchmark  attack throughput benchmark"
	@echo "make compat     make test on Colab's stack ($(COLAB_PINS)) in a second environment, $(COMPAT_VENV)"
	@echo "make clean      remove .venv, .venv-colab, trained models (artifacts/), caches, student/ and slides/"

setup: $(STAMP)

# Refuses an unsupported Python before anything is downloaded: the Python of an existing .venv,
# else $(PYTHON), which would create it.
python-version:
	@if [ -x $(PY) ]; then py=$(PY); where="the Python of $(VENV)"; else py="$(PYTHON)"; where="PYTHON=$(PYTHON)"; fi; \
	found=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || found="not found"; \
	case " $(SUPPORTED_PYTHONS) " in *" $$found "*) exit 0;; esac; \
	echo "Unsupported Python: $$where is $$found. This series needs Python $(firstword $(SUPPORTED_PYTHONS)) to $(lastword $(SUPPORTED_PYTHONS)) (TensorFlow 2.21 and the pinned packages)."; \
	echo "Pick another, for example:  make lab PYTHON=python3.12   (install one with your package manager, pyenv or 'uv python install 3.12')"; \
	if [ -x $(PY) ]; then echo "$(VENV) was made with it: remove it first (make clean)."; fi; \
	exit 1

# The installer: uv (pinned here, put into the venv by pip) installs the pinned packages in parallel, about 1 minute
# against pip's 2.5; it compiles their bytecode as pip does and keeps no cache. Where uv cannot be installed or
# fails, pip does the same install (said as it starts). INSTALLER=pip uses pip from the start.
UV_VERSION ?= 0.13.9
INSTALLER  ?= uv
# $(call install,PYTHON,ARGUMENTS): installs ARGUMENTS into the venv of PYTHON, with uv or else pip.
install = if [ "$(INSTALLER)" = uv ] && $(1) -m pip install --quiet "uv==$(UV_VERSION)" \
	  && $(1) -m uv pip install --python $(1) --quiet --no-cache --compile-bytecode $(2); then :; \
	else echo "Installing with pip (uv was not asked for, or could not install)."; \
	  $(1) -m pip install --quiet --upgrade pip && $(1) -m pip install --quiet $(2); fi

$(STAMP): requirements.txt pyproject.toml | python-version
	@echo "Installing the pinned packages into $(VENV): about 2.9 GB on disk, downloaded once (mostly TensorFlow)."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(call install,$(PY),-r requirements.txt)
	@$(call install,$(PY),--no-deps -e .)
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (advlearn)" >/dev/null
	touch $(STAMP)

# For Jupyter installs outside .venv (Anaconda, system Jupyter, VS Code): the notebooks ask for this kernel by name.
kernel: $(STAMP)
	$(PY) -m ipykernel install --user --name $(KERNEL) --display-name "Python (advlearn)"

# Opens at the repository root (README, notebooks/, solutions/ all reachable) with notebook 01 in view.
# Jupyter refuses to start as root (containers, some cloud VMs) without --allow-root.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" notebooks/01_cnn_basics.ipynb $(if $(filter 0,$(shell id -u)),--allow-root)

# pytest exits 5 when it collects nothing; that is not a failure here. pytest-xdist runs TEST_WORKERS test files or
# notebooks at a time, each whole in one worker (--dist loadscope: a notebook's cells in order, in one kernel); a
# notebook that needs notebook 01's CNN before 01 has saved it trains it itself (the same seed, the same model).
TEST_WORKERS ?= 2
PYTEST_PARALLEL = -n $(TEST_WORKERS) --dist loadscope
test: $(STAMP)
	ADVLEARN_PROFILE=smoke $(PY) -m pytest -q $(PYTEST_PARALLEL) --nbval-lax --nbval-current-env -p no:cacheprovider \
	  tests $(NOTEBOOKS) $(SOLUTIONS); \
	  status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; status=0; fi; exit $$status

unit: $(STAMP)
	$(PY) -m pytest -q tests

execute: $(STAMP)
	$(PY) scripts/execute_notebooks.py $(ONLY)

lint: $(STAMP)
	$(VENV)/bin/ruff check helpers scripts tests benchmarks

check: $(STAMP)
	$(PY) -m helpers.readiness

# Notebooks 01, 03 and 04 trained these in the workshop profile (scripts/make_pretrained.py); 03-05 then find 01's CNN.
models: $(STAMP)
	$(PY) -m helpers.pretrained

student: $(STAMP)
	$(PY) scripts/make_student.py --output student

prepare: $(STAMP)
	$(PY) scripts/prepare_notebooks.py

slides: $(STAMP)
	$(PY) scripts/make_slides.py --output slides

prefetch: $(STAMP)
	$(PY) -m helpers.prefetch

benchmark: $(STAMP)
	$(PY) benchmarks/attack_throughput.py

# Colab's stack (README, "Colab"): a second environment with the versions in $(COLAB_PINS), where the unit tests and
# every notebook and solution run as in `make test`, on a copy of this working tree ($(COMPAT_VENV)/src, with its
# own artifacts/), so .venv and artifacts/ here are left alone. Colab runs Python 3.13: python3.13 from PATH or
# pyenv when there is one, else $(PYTHON), said as it starts. COMPAT_PYTHON=... picks another.
COLAB_PINS    ?= compat/colab-2026-08.txt
COMPAT_VENV   ?= .venv-colab
COMPAT_PY     := $(abspath $(COMPAT_VENV))/bin/python
COMPAT_SRC    := $(COMPAT_VENV)/src
# What it runs: what `make test` runs (COMPAT_TESTS=notebooks/03_*.ipynb runs some), less the one test that checks that
# requirements.txt's pins are installed: on Colab's stack they are not, by design (`make check` says WARN there).
COMPAT_TESTS  ?= tests $(NOTEBOOKS) $(SOLUTIONS)
COMPAT_SKIP   := tests/test_readiness.py::test_the_real_pins_are_installed_here
COMPAT_PYTHON ?= $(firstword $(foreach p,python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13),\
                   $(if $(shell $(p) -c '' 2>/dev/null && echo ok),$(p))) $(PYTHON))

# A fresh environment whenever the pins change, so that it holds exactly the pinned set.
$(COMPAT_VENV)/.installed: $(COLAB_PINS)
	@echo "Installing Colab's stack ($(COLAB_PINS)) into $(COMPAT_VENV) with $(COMPAT_PYTHON): about 2.9 GB, downloaded once."
	rm -rf $(COMPAT_VENV)
	$(COMPAT_PYTHON) -m venv $(COMPAT_VENV)
	@$(call install,$(COMPAT_PY),-r $(COLAB_PINS))
	PYDEVD_DISABLE_FILE_VALIDATION=1 $(COMPAT_PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (advlearn, Colab's stack)" >/dev/null
	touch $@

compat: $(COMPAT_VENV)/.installed
	@$(COMPAT_PY) -c "import sys; from importlib.metadata import version as v; \
	  p = ('tensorflow', 'tf-keras', 'numpy', 'pandas', 'matplotlib', 'ipywidgets', 'ipykernel'); \
	  print('Colab stack check:', 'Python', sys.version.split()[0], *(n + ' ' + v(n) for n in p)); \
	  sys.version_info[:2] == (3, 13) or print('NOT Colab\'s Python 3.13: Python 3.13 itself is untested by this run.')"
	rm -rf $(COMPAT_SRC) && mkdir -p $(COMPAT_SRC)
	git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - | tar -xf - -C $(COMPAT_SRC)
	cd $(COMPAT_SRC) && $(COMPAT_PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	cd $(COMPAT_SRC) && ADVLEARN_PROFILE=smoke PYDEVD_DISABLE_FILE_VALIDATION=1 $(COMPAT_PY) -m pytest -q $(PYTEST_PARALLEL) --nbval-lax \
	  --nbval-current-env -p no:cacheprovider --deselect $(COMPAT_SKIP) $(COMPAT_TESTS); \
	  status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; status=0; fi; exit $$status

clean:
	rm -rf $(VENV) $(COMPAT_VENV) artifacts .pytest_cache student slides
