import pytest
import yaml
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_openapi_schema_validates_and_lists_the_contract_paths(api):
    response = api.get("/api/v1/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    validate(schema)
    for path in (
        "/api/v1/leads/",
        "/api/v1/leads/batch/",
        "/api/v1/leads/{id}/",
        "/api/v1/interactions/",
        "/api/v1/leads/{id}/interactions/",
    ):
        assert path in schema["paths"], path


def test_docs_page_is_served_without_internet(client, marketer):
    client.force_login(marketer)
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"cdn." not in response.content
