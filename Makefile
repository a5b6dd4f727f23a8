# dealdesk: `make run` starts the whole product, `make test` runs the whole suite.
# Both create .venv and install everything on a fresh machine that has only Python 3.11+.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-install
# Debian packages the test suite needs (installed with apt-get when running as root on Debian).
APT_PACKAGES ?= espeak-ng
HOST ?= 127.0.0.1
PORT ?= 8000

export XDG_RUNTIME_DIR ?= /tmp/runtime-$(shell id -u)

.PHONY: run test lint typecheck pytest install system-deps migrate seed-demo clean-data

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,vision]'
	@touch $(STAMP)

install: $(STAMP)

system-deps:
	@if [ -n "$(APT_PACKAGES)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			echo "apt-get install$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		fi; \
	fi

run: install
	$(BIN)/dealdesk run --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

pytest: install system-deps
	$(BIN)/pytest

test: lint typecheck pytest

migrate: install
	$(BIN)/dealdesk migrate

seed-demo: install
	$(BIN)/dealdesk seed-demo

clean-data:
	rm -rf .data
