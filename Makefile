# veza.infra — every entry point an on-call engineer or CI needs.
#   make demo   : the real thing on the embedded lab
#   make test   : everything CI runs (installs what it needs first)
SHELL := /bin/bash
.DEFAULT_GOAL := help
VEZA_VENV ?= /opt/veza-infra/venv
export VEZA_VENV
export PATH := $(VEZA_VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help bootstrap test sanity lint unit integration molecule demo clean lab-up lab-down

help:
	@echo "make demo    - run the main job on the embedded lab"
	@echo "make test    - install what is needed, then run every test CI runs"
	@echo "make sanity | lint | unit | units | integration | collection | molecule - one stage of make test"
	@echo "make fresh-check - README set-up + make demo in a brand-new Debian 12 system (FRESH_CHECK_TEST=1: + make test)"

bootstrap:
	@bash scripts/bootstrap.sh

# The link that makes veza.infra.* resolve from this checkout (ansible.cfg's collections_path):
# .collections/ansible_collections/veza/infra -> the repository root. bootstrap makes it too.
.PHONY: collection-link
collection-link:
	@mkdir -p .collections/ansible_collections/veza
	@ln -sfn ../../.. .collections/ansible_collections/veza/infra
	@echo "collection-link: .collections/ansible_collections/veza/infra -> $(CURDIR)"

# One stage after the other; every stage runs even when an earlier one failed, and the
# last line says how many stages passed.
test: bootstrap
	@bash scripts/run-tests.sh

sanity: bootstrap
	@bash scripts/run-tests.sh sanity

lint: bootstrap
	@bash scripts/run-tests.sh lint

unit: bootstrap
	@bash scripts/run-tests.sh unit

integration: bootstrap
	@bash scripts/run-tests.sh integration

molecule: bootstrap
	@bash scripts/run-tests.sh molecule

# ansible-test units over tests/unit/plugins; the galaxy build -> offline install -> use round trip.
.PHONY: units collection
units: bootstrap
	@bash scripts/run-tests.sh units

collection: bootstrap
	@bash scripts/run-tests.sh collection

demo: bootstrap
	@bash scripts/demo.sh

# A local HAProxy (no containers) with one server drained and made ready by the module, live.
.PHONY: demo-haproxy
demo-haproxy: bootstrap
	@bash scripts/demo-haproxy.sh

# The embedded lab (docs/lab.md): Incus containers of the project veza-lab (scripts/lab.py);
# idempotent; ports overridable with VEZA_LAB_*_PORT.
.PHONY: lab-status
lab-up: bootstrap
	@bash scripts/lab.sh up

lab-down:
	@bash scripts/lab.sh down

lab-status:
	@bash scripts/lab.sh status

# The clean-room check (docs/fresh-check.md): this tree's README set-up and make demo in a new
# Debian 12 minbase system (nested Incus container); FRESH_CHECK_TEST=1 adds make test.
.PHONY: fresh-check
fresh-check:
	@bash scripts/fresh-check.sh

# The canary release (docs/runbooks/CANARY.md): make deploy-canary ARTIFACT=/tmp/veza-api-v1.0.10
# Every runbook knob is read from the environment (export it before the call).
# INVENTORY chooses the fleet (default: the embedded lab).
INVENTORY ?= inventory/lab.yml
.PHONY: deploy-canary rollback
deploy-canary: bootstrap
	@test -n "$(ARTIFACT)" || { echo "deploy-canary: ARTIFACT=/path/to/veza-api is required" >&2; exit 2; }
	ARTIFACT="$(abspath $(ARTIFACT))" ansible-playbook -i $(INVENTORY) playbooks/canary.yml

rollback: bootstrap
	ansible-playbook -i $(INVENTORY) playbooks/rollback.yml

# On-call controls of a running canary, from a second terminal (docs/runbooks/CANARY.md): a line in
# <SLI_REPORT_DIR>/control-<run_id>.jsonl that the SLI gate reads at every probe.
.PHONY: canary-abort canary-promote canary-hold
canary-abort:
	@python scripts/canary-control.py abort
canary-promote:
	@python scripts/canary-control.py promote
canary-hold:
	@python scripts/canary-control.py hold --seconds "$(SECONDS)"

clean:
	rm -rf .cache tests/output .pytest_cache

# docs/reference/ (modules' DOCUMENTATION/RETURN, role knobs) and the knob table of docs/guide.md;
# tests/unit/test_docs_current.py fails when they are stale.
.PHONY: docs
docs: bootstrap
	@python scripts/gen-docs.py

# Benchmarks print figures (tables + JSON under tests/bench/results/); never part of make test.
# Every bench runs even when one fails; tests/bench/report.py then prints one summary of all.
.PHONY: bench
bench: bootstrap
	@rc=0; for b in tests/bench/bench_*.py; do echo "== $$b"; python "$$b" || { rc=1; echo "== $$b FAILED"; }; done; \
	python tests/bench/report.py; exit $$rc
