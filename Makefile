# Local-first entry point: every target sets up what it needs on a fresh machine.
#   make test                 lint and run the test suite (no cluster, no Pulumi CLI)
#   make preview STACK=dev    show what `up` would change
#   make up STACK=dev         deploy the stack
#   make destroy STACK=dev    delete everything the stack created
#   make render STACK=dev     write the stack's manifests to rendered/<stack>/, no cluster
# Without PULUMI_BACKEND_URL, state goes to a file backend in .pulumi-state/ (git-ignored).

STACK ?= dev
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin

export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
# The file backend encrypts secrets with a passphrase; set your own to keep it private.
export PULUMI_CONFIG_PASSPHRASE ?=
# ./venv is shared: Pulumi.yaml (toolchain pip, virtualenv venv) makes the Pulumi CLI create
# it from requirements.txt when it runs the program or on `pulumi install`, if it does not
# exist yet; `make test` creates it with requirements-dev.txt (program and test tools).
export PULUMI_SKIP_UPDATE_CHECK ?= true

.PHONY: test lint venv preview up destroy render stack pulumi-cli

$(BIN)/.installed: requirements.txt requirements-dev.txt policy/requirements.txt deployment/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

PULUMI := $(shell command -v pulumi 2>/dev/null)

# Checked before anything else is set up, and said in one line.
pulumi-cli:
ifeq ($(PULUMI),)
	$(error The pulumi CLI is not installed: get it with 'curl -fsSL https://get.pulumi.com | sh' or see https://www.pulumi.com/docs/install/)
endif
	@mkdir -p .pulumi-state

stack: pulumi-cli venv
	@pulumi stack select --create $(STACK) >/dev/null

preview: stack
	pulumi preview --stack $(STACK) --diff

up: stack
	pulumi up --stack $(STACK)

destroy: stack
	pulumi destroy --stack $(STACK)

# Rendering uses a throwaway `<stack>-render` stack with the stack's config, so the real
# stack's state never records the render provider; the manifests (Secrets in plaintext)
# land in rendered/<stack>/, which git ignores.
render: stack
	rm -rf rendered/$(STACK)
	-@pulumi stack rm --yes --force $(STACK)-render >/dev/null 2>&1
	pulumi stack init $(STACK)-render --copy-config-from $(STACK) --non-interactive
	pulumi config set --stack $(STACK)-render webapp:renderYamlTo rendered/$(STACK)
	pulumi up --stack $(STACK)-render --yes --skip-preview --non-interactive
	@pulumi stack rm --yes --force $(STACK)-render >/dev/null
	@echo "Manifests are in rendered/$(STACK)/ (Secrets in plaintext: do not commit or share them)."
