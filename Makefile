# Everything runs on loopback without Docker; state lives under .state/ (see README).
SHELL := /bin/bash
PY := .venv/bin/python
WRITE_API_URL ?= http://127.0.0.1:8001
SEARCH_API_URL ?= http://127.0.0.1:8002

.PHONY: up down test lint services venv web-assets browser migrate platform upgrade demo status logs clean bench-write check-compose

## up: install and start PostgreSQL, RabbitMQ, Elasticsearch and the four processes, load the demo catalogue
up: services venv web-assets migrate platform upgrade demo
	@echo
	@echo "Console     $(SEARCH_API_URL)/   (shop; staff pages sign in with an API key, e.g. dev-warehouse-key)"
	@echo "Write API   $(WRITE_API_URL)/docs"
	@echo "Search API  $(SEARCH_API_URL)/docs   e.g. curl '$(SEARCH_API_URL)/products/search?q=hdmi+cable'"
	@echo "Relay       http://127.0.0.1:$${RELAY_PORT:-8003}/metrics    Projector http://127.0.0.1:$${PROJECTOR_PORT:-8004}/metrics"
	@echo "Stop with: make down"

## down: stop the four processes and the services (data stays in .state/)
down:
	bash infra/platform.sh stop
	bash infra/services.sh stop

## test: start the services if needed and run the whole test suite against them (the console's in Chromium)
test: services venv web-assets browser
	$(PY) -m pytest

## lint: ruff, mypy, the import contracts (pyproject.toml), module and function sizes, the compose file / Dockerfile
lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	.venv/bin/lint-imports
	$(PY) infra/check_size.py
	bash infra/check_compose.sh

services:
	bash infra/services.sh start

venv:
	bash infra/python.sh

## web-assets: Swagger UI for /docs (npm, pinned by package-lock.json), served by the APIs themselves
web-assets:
	bash infra/web_assets.sh

browser:
	bash infra/browser.sh

migrate: venv
	$(PY) -m write_api.migrate

platform: venv
	bash infra/platform.sh start

## upgrade: rebuild any read-model index made from an older mapping version than the code's (else nothing)
upgrade: venv
	$(PY) -m projector upgrade

## demo: load the demo data through the write API (keys from API_KEYS, as the platform was started with)
demo: venv
	$(PY) -m infra.demo.seed --write-url $(WRITE_API_URL)

status:
	-bash infra/services.sh status
	-bash infra/platform.sh status

check-compose:
	bash infra/check_compose.sh

## clean: stop everything and delete all local state (databases, indices, logs)
clean: down
	rm -rf .state
