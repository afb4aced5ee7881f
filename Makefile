# Local-first entry point: every target sets up what it needs on a fresh machine.
#   make test                 lint and run the test suite (no cluster, no Pulumi CLI)
#   make check STACK=dev      what the stack file would deploy, and every config error
#                             with its fix (no CLI, no cluster; RENDER=dir writes manifests)
#   make preview STACK=dev    show what `up` would change
#   make up STACK=dev         deploy the stack
#   make destroy STACK=dev    delete everything the stack created
#   make render STACK=dev     write the stack's manifests to rendered/<stack>/ with the CLI
#   make docs                 regenerate docs/configuration.md from Pulumi.yaml
#   make schema               regenerate the component package's schema snapshot
#                             (tests/fixtures/webapp_schema.json) from the code
#   make e2e-tools            build the real-engine toolchain (tools/e2e) into its cache
#   make e2e                  the real-engine suite, tests/e2e (docs/testing.md)
#   make stack STACK=dev      create the local stack (no cluster needed), for commands run
#                             by hand on it
#   make env                  the settings the targets give the CLI, for commands run by
#                             hand on a local stack: eval "$(make -s env)"
#   make help                 this list
# Without PULUMI_BACKEND_URL, state goes to a file backend in .pulumi-state/ (git-ignored).
# Local stacks read a git-ignored copy of the tracked stack file,
# .pulumi-local/Pulumi.<stack>.yaml (tools/local_stack_config.py): the passphrase provider
# writes its salt there, never into the tracked Pulumi.<stack>.yaml, which the Pulumi
# Cloud stacks of CI use as well.

STACK ?= dev
PYTHON ?= python3
# ./venv is shared. The Pulumi CLI creates it from requirements.txt when it runs the
# program and ./venv does not exist yet (Pulumi.yaml: toolchain pip, virtualenv venv), and
# installs requirements.txt into it on `pulumi install`; `make test` creates it with
# requirements-dev.txt (the program's packages and the test tools).
VENV := venv
BIN := $(VENV)/bin

export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
# The file backend encrypts secrets with a passphrase; set your own to keep it private.
export PULUMI_CONFIG_PASSPHRASE ?=
export PULUMI_SKIP_UPDATE_CHECK ?= true
# If the local copy is lost, take the stack's secrets provider from its state instead of
# starting a new one that cannot decrypt the state.
export PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER ?= true

LOCAL := .pulumi-local
LOCAL_CONFIG := $(LOCAL)/Pulumi.$(STACK).yaml
RENDER_STACK := $(STACK)-render
RENDER_CONFIG := $(LOCAL)/Pulumi.$(RENDER_STACK).yaml

.PHONY: help env test lint venv docs check schema preview up destroy render stack pulumi-cli e2e-tools e2e

# The target list above, from this file's own header.
help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

$(BIN)/.installed: requirements.txt requirements-dev.txt policy/requirements.txt deployment/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

# Printed as shell that keeps what the caller's shell already sets, as the targets do (a
# passphrase of your own is never echoed); the state directory is made, as the targets do.
env:
	@mkdir -p .pulumi-state
	@echo 'export PULUMI_BACKEND_URL="$${PULUMI_BACKEND_URL:-file://$(CURDIR)/.pulumi-state}"'
	@echo 'export PULUMI_CONFIG_PASSPHRASE="$${PULUMI_CONFIG_PASSPHRASE-}"'
	@echo 'export PULUMI_SKIP_UPDATE_CHECK="$${PULUMI_SKIP_UPDATE_CHECK:-true}"'
	@echo 'export PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER="$${PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER:-true}"'

lint: venv
	$(BIN)/ruff check .

# Two workers, each taking tests as it is free; a worker runs each stack's program once
# and starts its own servers once. The 10 slowest tests are listed in docs/testing.md.
test: lint
	$(BIN)/python -m pytest -n 2 --dist worksteal --durations=10

# What the stack file would deploy, and every config error with its fix: no CLI, no cluster.
check: venv
	@$(BIN)/python tools/check_stack.py $(STACK)$(if $(RENDER), --render $(RENDER))

# The configuration reference, docs/configuration.md, from Pulumi.yaml's declarations.
docs: venv
	$(BIN)/python tools/config_reference.py

# The schema other languages see, inferred from the components' annotations and
# docstrings; a test fails, naming this target, while the snapshot is not current.
schema: venv
	$(BIN)/python -m tests.test_package --write

PULUMI := $(shell command -v pulumi 2>/dev/null)

# Checked before anything else is set up, and said in one line.
pulumi-cli:
ifeq ($(PULUMI),)
	$(error The pulumi CLI is not installed: get it with 'curl -fsSL https://get.pulumi.com | sh' or see https://www.pulumi.com/docs/install/)
endif
	@mkdir -p .pulumi-state

# `pulumi install` puts the program's packages in ./venv (the local config tool needs
# PyYAML from them); the local copy of the stack file is refreshed from the tracked one,
# and a new stack is created under --cwd $(LOCAL), where its stack file is that copy
# (`stack init` and `stack select` have no --config-file flag, and would write the salt
# into the tracked file).
stack: pulumi-cli
	pulumi install
	$(BIN)/python tools/local_stack_config.py Pulumi.$(STACK).yaml $(LOCAL_CONFIG)
	@pulumi --cwd $(LOCAL) stack select --create $(STACK) --non-interactive >/dev/null

preview: stack
	pulumi preview --stack $(STACK) --config-file $(LOCAL_CONFIG) --diff

up: stack
	pulumi up --stack $(STACK) --config-file $(LOCAL_CONFIG)

destroy: stack
	pulumi destroy --stack $(STACK) --config-file $(LOCAL_CONFIG)

# Rendering uses a throwaway `<stack>-render` stack with the stack's tracked config, so the
# real stack's state never records the render provider; the manifests (Secrets in
# plaintext) land in rendered/<stack>/, which git ignores. `stack rm` always keeps config
# files: run where a tracked Pulumi.<stack>.yaml is, it would delete it.
render: pulumi-cli
	pulumi install
	rm -rf rendered/$(STACK)
	-@pulumi stack rm --yes --force --preserve-config $(RENDER_STACK) >/dev/null 2>&1
	$(BIN)/python tools/local_stack_config.py --fresh Pulumi.$(STACK).yaml $(RENDER_CONFIG) --set webapp:renderYamlTo=rendered/$(STACK)
	pulumi --cwd $(LOCAL) stack init $(RENDER_STACK) --no-select --non-interactive
	pulumi up --stack $(RENDER_STACK) --config-file $(RENDER_CONFIG) --yes --skip-preview --non-interactive
	@pulumi stack rm --yes --force --preserve-config $(RENDER_STACK) >/dev/null
	@rm -f $(RENDER_CONFIG) $(RENDER_CONFIG).copied.json
	@echo "Manifests are in rendered/$(STACK)/ (Secrets in plaintext: do not commit or share them)."

# The real-engine suite (docs/testing.md). Its toolchain is built from pinned Go modules
# into ${WEBAPP_E2E_CACHE:-~/.cache/webapp-e2e}/<stamp>/bin: about 26 minutes the first
# time on 2 cores, seconds once the cache (and Go's build cache) holds it. With
# WEBAPP_E2E_CONTEXT=<kube context> the suite uses your pulumi CLI and that throwaway
# cluster instead, and builds nothing.
E2E_BUILD := tools/e2e/build.sh

e2e-tools:
	@start=$$(date +%s); bin=$$($(E2E_BUILD)) && \
	  echo "e2e toolchain in $$bin (this run: $$(( $$(date +%s) - start )) s)"

# Three workers, a module at a time each (the modules with most tests first: dev, prod,
# the engine defects), each with a control plane of its own: most of a scenario's time is
# waiting (rollouts, the provider's awaits), so three overlap on two cores. A user's one
# cluster gets one worker (the stand-ins would act twice on its objects).
E2E_WORKERS := -n 3 --dist loadfile --durations=15

e2e: venv
	@if [ -n "$$WEBAPP_E2E_CONTEXT" ]; then \
	  $(BIN)/python -m pytest tests/e2e --durations=15; \
	else \
	  bin=$$($(E2E_BUILD)) && WEBAPP_E2E_BIN=$$bin $(BIN)/python -m pytest tests/e2e $(E2E_WORKERS); \
	fi
