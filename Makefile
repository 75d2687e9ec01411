.PHONY: run test lint bench

run:  ## the app with demo data on embedded PostgreSQL + Redis, with a Celery worker and beat
	scripts/run.sh

test:  ## the whole suite against PostgreSQL and Redis (local servers or docker compose)
	scripts/test.sh $(ARGS)

lint:
	scripts/bootstrap.sh && .venv/bin/ruff check . && .venv/bin/ruff format --check .
