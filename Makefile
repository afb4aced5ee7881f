# Local-first entry point: every target sets up what it needs on a fresh machine.
#   make test                 lint and run the test suite (no cluster, no Pulumi CLI)
#   make preview STACK=dev    show what `up` would change
#   make up STACK=dev         deploy the stack
#   make destroy STACK=dev    delete everything the stack created
# Without PULUMI_BACKEND_URL, state goes to a file backend in .pulumi-state/ (git-ignored).

STACK ?= dev
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin

export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
# The file backend encrypts secrets with a passphrase; set your own to keep it private.
export PULUMI_CONFIG_PASSPHRASE ?=
# Pulumi installs the program's requirements into the same ./venv (see Pulumi.yaml).
export PULUMI_SKIP_UPDATE_CHECK ?= true

.PHONY: test lint venv preview up destroy stack pulumi-cli

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

pulumi-cli:
	@command -v pulumi >/dev/null 2>&1 || { \
	  echo "The pulumi CLI is not installed: get it with 'curl -fsSL https://get.pulumi.com | sh' (see https://www.pulumi.com/docs/install/)."; \
	  exit 1; }
	@mkdir -p .pulumi-state

stack: venv pulumi-cli
	@pulumi stack select --create $(STACK) >/dev/null

preview: stack
	pulumi preview --stack $(STACK) --diff

up: stack
	pulumi up --stack $(STACK)

destroy: stack
	pulumi destroy --stack $(STACK)
