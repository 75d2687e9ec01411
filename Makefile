.PHONY: run test lint bench manage

run:  ## the app with demo data on embedded PostgreSQL + Redis, with a Celery worker and beat
	scripts/run.sh

manage:  ## manage.py against the services of a running `make run`: make manage ARGS="create_api_key website-forms"
	scripts/manage.sh $(ARGS)

test:  ## the whole suite against PostgreSQL and Redis (local servers or docker compose)
	scripts/test.sh $(ARGS)

lint:
	scripts/bootstrap.sh && .venv/bin/ruff check . && .venv/bin/ruff format --check .
