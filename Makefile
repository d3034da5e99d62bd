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

## lint and run the whole test suite (offline), TEST_WORKERS test files at a time (pytest-xdist).
## Why 2: the Prefect tests spend much of their time waiting on a server or a schedule, so two files
## at once fill the cores (2-core AMD EPYC: 15 min 31 s serial, 10 min 52 s on two workers);
## TEST_WORKERS=0 runs them in this process, one after the other
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/ruff check .
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .

clean-artifacts:
	rm -rf artifacts/stacks artifacts/monitor artifacts/alerts artifacts/reports models/runs models/ensembles
