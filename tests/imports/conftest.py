import pytest


@pytest.fixture
def eager_celery():
    """Run tasks in-process (the real task functions, no broker), then restore the setting."""
    from leadqual.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The factories set a password on every user; the production hasher's cost is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
