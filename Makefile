PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test bench lint demo clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(STAMP)

# Two workers (the machine has two cores; many tests wait on real daemons and sockets); a
# module stays on one worker, so module-wide fixtures (one daemon per module) are shared.
# Then the tests marked ``alone`` (the 50-node swarm fills both cores by itself).
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not alone"
	$(BIN)/python -m pytest -m alone

demo: $(STAMP)
	$(BIN)/python -m cli.demo

bench: $(STAMP)
	$(BIN)/python -m bench all
	$(BIN)/python -m bench report

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
