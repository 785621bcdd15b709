"""GET /openapi.json: built from schemas/, covering every route; its examples validate; real answers
match it; and the API, fuzzed from that document with schemathesis against a started daemon (on the
fake docker CLI: the subject is the API edge), never answers 5xx and never answers outside the document."""

from __future__ import annotations

import os
from collections.abc import Iterator

import jsonschema
import pytest
import requests
import schemathesis
from conftest import make_settings
from helpers import example, post
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from phronosd.app import create_app
from phronosd.openapi import OPENAPI

DOCUMENT = create_app(make_settings())[OPENAPI]
FUZZ_EXAMPLES = int(os.environ.get("PHRONOSD_TEST_FUZZ_EXAMPLES", "10"))  # per operation; CI sets more


def validator(document: dict, name: str) -> jsonschema.Draft202012Validator:
    """A component schema checked against the whole document, as a client would read it."""
    return jsonschema.Draft202012Validator({**document, "$ref": f"#/components/schemas/{name}"})


async def test_served_document_covers_every_route(fake_client):
    response = await fake_client.get("/openapi.json")
    document = await response.json()
    assert response.status == 200 and document["openapi"].startswith("3.1")
    for route in fake_client.app.router.routes():
        if route.method != "HEAD":
            assert route.method.lower() in document["paths"][route.resource.canonical], route
    assert document == DOCUMENT


def test_document_is_valid_openapi_and_refs_resolve():
    schemathesis.openapi.from_dict(DOCUMENT).validate()
    assert "submission.json" not in str(DOCUMENT) and "$defs" not in str(DOCUMENT)
    assert DOCUMENT["components"]["schemas"]["validate"]["properties"]["language"] == {
        "$ref": "#/components/schemas/submission.language"
    }


def test_every_example_validates_against_its_schema():
    schemas = DOCUMENT["components"]["schemas"]
    checked = 0
    for name, schema in schemas.items():
        for instance in schema.get("examples", []):
            validator(DOCUMENT, name).validate(instance)
            checked += 1
    for path in DOCUMENT["paths"].values():
        for operation in path.values():
            bodies = [operation.get("requestBody", {})] + list(operation["responses"].values())
            for body in bodies:
                for media in body.get("content", {}).values():
                    if "example" in media:
                        jsonschema.Draft202012Validator({**DOCUMENT, **media["schema"]}).validate(media["example"])
                        checked += 1
    assert checked >= 10


async def test_real_answers_match_their_schemas(client):
    solution, tests = example("python")
    for path, name, extra in (
        ("/api/execute/validate", "validate-result", {}),
        ("/api/execute/run", "run-result", {"runs": 5, "includeSamples": True}),
    ):
        result = await post(client, path, {"language": "python", "solution": solution, "tests": tests, **extra})
        validator(DOCUMENT, name).validate(result)
    failed = await post(client, "/api/execute/validate", {"language": "python", "solution": "", "tests": "x = ("})
    validator(DOCUMENT, "validate-result").validate(failed)
    for path, name in (("/health", "health"), ("/api/languages", "languages")):
        validator(DOCUMENT, name).validate(await (await client.get(path)).json())
    error = await post(client, "/api/execute/validate", {"language": 1}, expect=400)
    validator(DOCUMENT, "error").validate(error)
    assert await (await client.get("/openapi.json")).json() == DOCUMENT


FUZZ = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    """One keep-alive session for the fuzzer's requests to the local daemon (no proxy variables read)."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


@FUZZ.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_no_5xx_and_every_answer_in_the_document(case, shared_daemon_url, http):
    case.call_and_validate(
        base_url=shared_daemon_url,
        session=http,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
        timeout=200,
    )
