# Two commands do all set-up: `make lab` (the main job: JupyterLab on the walkthrough)
# and `make test` (the whole suite). `make demo` is the terminal demo. Each creates or
# refreshes .venv from pyproject.toml by itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: lab lab-work demo test test-binder test-paced lint typecheck generated chromium bench clean
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,notebook,backtest,distributed]'
	# Coinbase's official SDK, to prove the simulator serves an unmodified real client.
	# Its newest release (1.8.4) pins websockets<14 (its WSClient uses the legacy
	# `websockets.connect` API) while tradekit needs websockets>=14: the SDK goes in
	# without its pins (its REST client never imports websockets), and the websockets it
	# wants goes in a folder of its own, which only the child process that runs the SDK's
	# WSClient puts first on its path (tests/sim/test_clients_sdk_ws.py).
	$(BIN)/python -m pip install --quiet 'requests>=2.31' 'backoff>=2.2.1'
	$(BIN)/python -m pip install --quiet --no-deps 'coinbase-advanced-py==1.8.4'
	$(BIN)/python -m pip install --quiet --no-warn-conflicts --upgrade --target $(VENV)/sdk-websockets 'websockets>=12,<14'
	touch $(STAMP)

# JupyterLab opens working copies in work/ (git-ignored), never the tracked notebooks: a
# run saved with its outputs stays out of version control, and `make test` (which checks
# that the tracked ones are stored clean) passes after a lab session. A working copy is
# refreshed from notebooks/ when the tracked one is newer, so your edits stay otherwise.
LAB_DIR := work

lab-work:
	@mkdir -p $(LAB_DIR)
	@for nb in notebooks/*.ipynb; do \
	  dst="$(LAB_DIR)/$${nb##*/}"; \
	  if [ ! -e "$$dst" ] || [ "$$nb" -nt "$$dst" ]; then cp "$$nb" "$$dst"; fi; \
	done

# JupyterLab's settings for these notebooks (binder/overrides.json: a saved notebook
# keeps its widgets' state), as Binder's postBuild installs them.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

$(LAB_SETTINGS): binder/overrides.json binder/postBuild $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" sh binder/postBuild

# The walkthrough is the server's default page: the URL printed (and opened, when a
# browser can be) lands on notebook 01, not on the Launcher.
lab: $(STAMP) $(LAB_SETTINGS) lab-work
	$(BIN)/jupyter lab --ip=127.0.0.1 $(ROOT_FLAG) --ServerApp.root_dir=$(LAB_DIR) \
	  --LabApp.default_url=/lab/tree/01-sync-single-pair.ipynb

demo: $(STAMP)
	$(BIN)/tradekit demo

lint: $(STAMP)
	$(BIN)/ruff check tradekit tests tools
	$(BIN)/ruff format --check tradekit tests tools

typecheck: $(STAMP)
	$(BIN)/mypy

generated: $(STAMP)
	$(BIN)/python tools/gen_sync.py --check

# The browser tests use Debian's Chromium (never a downloaded one); installing it needs root.
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

test: lint typecheck generated chromium $(LAB_SETTINGS)
	$(BIN)/python -m pytest -q
	$(MAKE) test-binder

# Binder proven here: a fresh venv from binder/requirements.txt alone (and postBuild),
# every notebook executed in it by a real kernel (about 2 minutes; a step of `make test`).
test-binder:
	TRADEKIT_BINDER_TEST=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_binder.py

# every notebook straight through and with 10 s between cells (about 4 minutes)
test-paced: $(STAMP)
	TRADEKIT_PACED_NOTEBOOKS=all $(BIN)/python -m pytest -q -s tests/notebook/test_notebook_stories.py

bench: $(STAMP)
	$(BIN)/python -m tradekit.bench core

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
