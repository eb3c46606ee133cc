# One entry point: `make synth` and `make test` each set everything up first (idempotent).
# Needs only Python 3.11+, Node/npm and make; the Node that jsii and the CDK CLI run on is
# the pinned one from package.json (node_modules/.bin/node), not the machine's.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
# checkov pins an older boto3 than the project: it gets a venv of its own.
CHECKOV_VENV := .venv-checkov
UV_VERSION := 0.13.9
NODE_BIN := $(CURDIR)/node_modules/.bin

export PATH := $(NODE_BIN):$(CURDIR)/$(VENV)/bin:$(PATH)
export JSII_NODE := $(NODE_BIN)/node
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: setup synth test lint unit ledger reference report place integ integ-snapshot benchmark benchmark-scale benchmark-versus-l2 benchmark-construction benchmark-proof benchmark-test-time clean

# Each set-up step prints one line as it starts, with how long it takes on a fresh clone, and is
# skipped when its stamp is newer than its inputs. The installers run quietly (errors still show):
# uv's own progress is, in a log, a list of every package it installed (about 100 lines), and
# npm's is a summary line; the step's line says up front how long it takes.
setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required, found " + sys.version) if sys.version_info < (3, 11) else None'
	@test -x $(VENV)/bin/python || { \
		echo "strongbox: creating $(VENV) (Python $$($(PYTHON) -c 'import sys; print(*sys.version_info[:2], sep=".")'))"; \
		$(PYTHON) -m venv $(VENV); }
	@echo "strongbox: installing Python packages into $(VENV) (uv, about 40 s on a fresh clone)"
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(VENV)/bin/python -r requirements.lock
	@$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python --no-deps --editable .
	@touch $@

# Only the tests run checkov (tests/test_checkov.py runs .venv-checkov/bin/checkov): synth does
# not wait for it.
$(CHECKOV_VENV)/.installed: requirements-checkov.lock $(VENV)/.installed
	@echo "strongbox: installing checkov into $(CHECKOV_VENV), for the tests only (uv, about 25 s on a fresh clone)"
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(CHECKOV_VENV)/bin/python -r requirements-checkov.lock
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo "strongbox: installing the pinned Node and CDK CLI into node_modules (npm ci, about 10 s on a fresh clone)"
	@npm ci --no-audit --no-fund --loglevel=error > /dev/null
	@touch $@

# '**' selects the stacks inside the stages. A bare `cdk synth` selects only top-level stacks,
# of which this app has none, so the CLI would validate nothing and report success.
synth: setup
	@echo "strongbox: synthesizing every environment into cdk.out (cdk synth, about 20 s)"
	@cdk synth --quiet '**'

lint: setup
	@echo "strongbox: linting (ruff)"
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@echo "strongbox: type-checking (mypy, about 2 min on a fresh clone, seconds after)"
	@$(VENV)/bin/mypy --no-error-summary  # silent when clean: it may run beside pytest

unit: setup $(CHECKOV_VENV)/.installed
	@echo "strongbox: running the tests (pytest)"
	@$(VENV)/bin/pytest

# Lint and the tests side by side once everything is set up: mypy is one process, and on a fresh
# clone it takes minutes the two pytest workers would otherwise wait for.
test: setup $(CHECKOV_VENV)/.installed
	@$(MAKE) --no-print-directory -j2 lint unit

# docs/COMPLIANCE.md from a fresh synth; tests/test_ledger.py fails when it is stale.
ledger: synth
	$(VENV)/bin/python -m stacks.compliance_ledger cdk.out > docs/COMPLIANCE.md

# The JSON Schema (stacks/cdk.schema.json) and the key reference of docs/configuration.md, from
# the config model; tests/test_config_schema.py fails when either is stale.
reference: setup
	$(VENV)/bin/python -m stacks.config_reference

# Inventory, who can read, cost and advice per environment, offline from a fresh synth; with
# Graphviz installed, an SVG diagram per environment beside it.
report: synth
	$(VENV)/bin/strongbox report cdk.out --output cdk.out/strongbox-report.md
	@echo "wrote cdk.out/strongbox-report.md"

# Deploy mode of the integration apps (tests/integ): needs credentials for a bootstrapped sandbox
# account (docs/integration.md); deploys, asserts and destroys each app.
integ: setup
	$(VENV)/bin/python -m tests.integ.deploy

# Snapshot mode runs in `make test` (tests/test_integ.py); this rewrites the snapshots after an
# intended change, to commit with it.
integ-snapshot: setup
	STRONGBOX_INTEG_UPDATE=1 $(VENV)/bin/pytest -q tests/test_integ.py

benchmark: setup
	$(VENV)/bin/python benchmarks/synth.py

benchmark-scale: setup
	$(VENV)/bin/python benchmarks/scale.py

# Strongbox's synth cost per added secret against plain aws-cdk-lib L2s, side by side (issue 22).
benchmark-versus-l2: setup
	$(VENV)/bin/python benchmarks/per_secret.py

# What building a secret's core as L1s would save over ManagedSecret's L2 path (issue 22).
benchmark-construction: setup
	$(VENV)/bin/python benchmarks/secret_construction.py

# What the call-path proof (declarations and check) adds to synth, shipped app and 1,000 secrets.
benchmark-proof: setup
	$(VENV)/bin/python benchmarks/proof_cost.py

# `make test` warm (here, after a first run) and on a fresh clone of HEAD, against the targets.
benchmark-test-time: setup
	$(VENV)/bin/python benchmarks/test_time.py

# Records the Secrets stack of every new secret in secret-placement.json and the Parameters stack
# of every new parameter in parameter-placement.json (never moves one).
place: setup
	$(VENV)/bin/python -m stacks.placement

clean:
	rm -rf cdk.out cdk.integ.out $(VENV) $(CHECKOV_VENV) node_modules
