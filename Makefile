# gee-landslide: the two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo stacks serve stop test lint clean-artifacts

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

## install everything into ./.venv (idempotent)
install: $(STAMP)

## the main job end to end on the embedded default (simulated scenes: no account, no network):
## Prefect server + deployments, stacks, laptop training sweep, ensemble, monitor/norway, feeds
demo: $(STAMP)
	$(BIN)/gee-landslide events validate case_studies.yaml
	$(BIN)/gee-landslide demo

## only the simulated stacks of every event, with a quick-look of the test event
stacks: $(STAMP)
	$(BIN)/gee-landslide events validate case_studies.yaml
	$(BIN)/gee-landslide stacks build --source simulated
	$(BIN)/gee-landslide stacks show norway-5

## start the Prefect server, the deployment process and the feed server, and leave them running
serve: $(STAMP)
	$(BIN)/gee-landslide orchestrate up

## stop what `make serve` / `make demo` started (by process id)
stop:
	@if [ -x $(BIN)/gee-landslide ]; then $(BIN)/gee-landslide orchestrate down; fi

## lint and run the whole test suite (offline)
test: $(STAMP)
	$(BIN)/ruff check .
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean-artifacts:
	rm -rf artifacts/stacks artifacts/monitor artifacts/alerts artifacts/reports models/runs models/ensembles
