"""The emulator against PersistIQ's own contract: every read endpoint's answers, every page,
match the shapes of PersistIQ's published OpenAPI description (``persistiq_emulator/
persistiq-openapi-v1.json``, a copy of ``https://api.persistiq.com/api-docs/v1/swagger.json``).

OpenAPI 3.0 is JSON Schema but for ``nullable``, which becomes a ``null`` alternative here.
The contract requires no field and forbids none beyond those it lists, so this checks the
types, including which fields may be null. ``webhook_plugin`` (settings for PersistIQ's push
hooks, not data) is the one read endpoint the emulator does not serve.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from persistiq_dagster_tests.support import scan
from persistiq_emulator import make_dataset
from persistiq_emulator.variants import CONTRACT_VARIANTS, server_settings

SPEC = json.loads(
    (
        Path(__file__).resolve().parents[2] / "persistiq_emulator" / "persistiq-openapi-v1.json"
    ).read_text()
)
NOT_EMULATED = {"/v1/webhook_plugin"}
# Not JSON Schema: left out of the schemas handed to the validator.
OPENAPI_ONLY = {"nullable", "example", "description"}


def json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema (draft 7): ``nullable`` becomes ``null`` allowed,
    ``$ref`` points into ``definitions``."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    schema = {}
    for key, value in node.items():
        if key == "properties":  # property names are names, not keywords
            schema[key] = {name: json_schema(sub) for name, sub in value.items()}
        elif key == "$ref":
            schema[key] = value.replace("#/components/schemas/", "#/definitions/")
        elif key not in OPENAPI_ONLY:
            schema[key] = json_schema(value)
    return {"anyOf": [schema, {"type": "null"}]} if node.get("nullable") else schema


DEFINITIONS = {name: json_schema(s) for name, s in SPEC["components"]["schemas"].items()}


def validator_for(path: str) -> Draft7Validator:
    answer = SPEC["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    return Draft7Validator({**json_schema(answer["schema"]), "definitions": DEFINITIONS})


def read_endpoints() -> list[str]:
    return sorted(p for p, v in SPEC["paths"].items() if "get" in v and p not in NOT_EMULATED)


def test_every_read_endpoint_of_the_contract_is_served_and_checked_here():
    assert read_endpoints() == sorted(
        [
            "/v1/campaigns", "/v1/campaigns/{campaign_id}/leads",
            "/v1/campaigns/{campaign_id}/replies", "/v1/dnc_domains", "/v1/events",
            "/v1/lead_fields", "/v1/lead_statuses", "/v1/leads", "/v1/leads/{id}", "/v1/tags",
            "/v1/users",
        ]
    )  # fmt: skip


def violations(validator: Draft7Validator, bodies: list[dict]) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for body in bodies
        for error in validator.iter_errors(body)
    ]


# The default data, and every variant of it the contract allows (variants.py) at once.
VARIANTS = pytest.mark.parametrize("variants", [(), CONTRACT_VARIANTS], ids=["default", "all"])


@VARIANTS
@pytest.mark.parametrize("path", [p for p in read_endpoints() if "{" not in p])
def test_every_page_of_each_list_matches_the_contract(make_emulator, http, path, variants):
    emulator = make_emulator(make_dataset(variants=variants), **server_settings(variants))
    bodies = scan(http, f"{emulator.root_url}{path}")
    records_key = path.removeprefix("/v1/")
    assert sum(len(body[records_key]) for body in bodies) > 0
    assert violations(validator_for(path), bodies) == []


@VARIANTS
def test_every_campaigns_leads_and_replies_and_one_lead_match_the_contract(
    make_emulator, http, variants
):
    store = make_dataset(variants=variants)
    emulator = make_emulator(store, **server_settings(variants))
    for path, records_key in (
        ("/v1/campaigns/{campaign_id}/leads", "campaign_leads"),
        ("/v1/campaigns/{campaign_id}/replies", "replies"),
    ):
        validator, found = validator_for(path), 0
        for campaign in store.campaigns:
            url = emulator.root_url + path.replace("{campaign_id}", campaign["id"])
            bodies = scan(http, url)
            found += sum(len(body[records_key]) for body in bodies)
            assert violations(validator, bodies) == [], (path, campaign["id"])
        assert found > 0, path
    lead = store.leads[0]
    answer = http.get(f"{emulator.root_url}/v1/leads/{lead['id']}")
    assert answer.status_code == 200
    assert violations(validator_for("/v1/leads/{id}"), [answer.json()]) == []
    assert answer.json()["lead"]["id"] == lead["id"]
