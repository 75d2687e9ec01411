import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from leads.services import api_key_create
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _clear_cache():
    # Throttle counters live in Redis; each test starts from zero.
    cache.clear()
    yield


@pytest.fixture
def api_key(db):
    key, secret = api_key_create(name="test-integration")
    key.secret = secret
    return key


@pytest.fixture
def api(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    return client


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def marketer(db):
    return UserFactory(username="maria", roles=["marketing"])


@pytest.fixture
def sdr(db):
    return UserFactory(username="sam", roles=["sales"])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada", roles=["admin"], is_staff=True, is_superuser=True)


@pytest.fixture
def as_user():
    def make(user):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(user)
        return client

    return make
