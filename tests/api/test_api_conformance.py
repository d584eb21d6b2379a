"""Issue 25, item 11: what the OpenAPI document says and what the API does agree, case by case
for what schemathesis found (the whole run is test_api_schemathesis.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import Api


def error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text[:500]
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


async def spec_of(api: Api) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=api.url) as http:
        return (await http.get("/openapi.json")).json()


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/campaigns", "GET, HEAD, POST, OPTIONS"),
        ("/campaigns/7", "GET, HEAD, PATCH, DELETE, OPTIONS"),
        ("/campaigns/preview", "POST, OPTIONS"),
        ("/contacts/import", "POST, OPTIONS"),
        ("/groups/3/contacts", "GET, HEAD, POST, OPTIONS"),
        ("/account/keys/2", "DELETE, OPTIONS"),
    ],
)
async def test_options_and_405_list_the_methods_of_the_document(
    api: Api, path: str, allowed: str
) -> None:
    acme = await api.account()
    r = await acme.http.options(path)
    assert (r.status_code, r.content) == (204, b"")
    assert r.headers["allow"] == allowed
    for method in ("PUT", "PATCH", "DELETE", "TRACE"):
        if method in allowed:
            continue
        r = await acme.http.request(method, path)
        error(r, 405, "method_not_allowed")  # not a 422 from the route next door
        assert r.headers["allow"] == allowed
    spec = await spec_of(api)
    template = "/v1" + path.replace("7", "{campaign_id}").replace("3", "{group_id}")
    template = template.replace("/2", "/{key_id}")
    documented = {m.upper() for m in spec["paths"][template]}
    assert documented == set(allowed.split(", ")) - {"HEAD", "OPTIONS"}


async def test_a_body_that_is_not_json_is_a_documented_400(api: Api) -> None:
    acme = await api.account()
    for raw in (b"\xff\xfe{", b'{"name": ', b"not json"):
        r = await acme.http.post(
            "/groups", content=raw, headers={"content-type": "application/json"}
        )
        err = error(r, 400, "malformed_body")
        assert "UTF-8" in err["message"] or "not valid JSON" in err["message"]
    spec = await spec_of(api)
    with_body = [
        (path, method, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert len(with_body) > 10
    for path, method, operation in with_body:
        assert {"400", "413"} <= set(operation["responses"]), (method, path)
        assert "malformed_body" in operation["responses"]["400"]["description"]


def _strings(schema: Any, spec: dict[str, Any], seen: set[str]) -> list[dict[str, Any]]:
    """Every string schema a request body can contain."""
    if isinstance(schema, list):
        return [s for item in schema for s in _strings(item, spec, seen)]
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        return _strings(spec["components"]["schemas"][name], spec, seen)
    found = [schema] if schema.get("type") == "string" else []
    for key in ("properties", "additionalProperties", "items", "anyOf", "propertyNames"):
        value = schema.get(key)
        if key == "properties" and isinstance(value, dict):
            found += [s for v in value.values() for s in _strings(v, spec, seen)]
        elif value is not None:
            found += _strings(value, spec, seen)
    return found


async def test_the_nul_rule_is_in_the_schema(api: Api) -> None:
    spec = await spec_of(api)
    strings = []
    for operations in spec["paths"].values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            json_body = content.get("application/json", {}).get("schema")
            strings += _strings(json_body, spec, set())
    free_text = [s for s in strings if not {"format", "enum", "const"} & set(s)]
    assert len(free_text) > 20
    for schema in free_text:
        assert "pattern" in schema, schema  # ^[^\x00]*$, or a stricter one
    acme = await api.account()
    err = error(
        await acme.http.post(
            "/contacts", json={"phone": "+306948530920", "labels": {"a\x00": "1"}}
        ),
        422,
        "invalid_request",
    )
    assert "NUL" in err["message"]


@pytest.mark.parametrize(
    "query",
    [
        {"scheduled_from": "0.5"},
        {"created_before": "1700000000"},
        {"created_from": "2030-05-01 09:00:00Z"},  # RFC 3339 wants the T
        {"scheduled_before": "2030-05-01T09:00:00"},  # and a time zone
    ],
)
async def test_time_filters_take_rfc_3339_only(api: Api, query: dict[str, str]) -> None:
    acme = await api.account()
    err = error(await acme.http.get("/campaigns", params=query), 422, "invalid_request")
    assert err["details"][0]["location"] == f"query.{next(iter(query))}"
    assert "RFC 3339" in err["message"]


async def test_bodies_take_the_json_types_the_schema_gives(api: Api) -> None:
    acme = await api.account()
    ok = await acme.http.get("/campaigns", params={"scheduled_from": "2030-05-01T09:00:00+03:00"})
    assert ok.status_code == 200
    base = {"name": "Typed", "sender": "Herald", "message": "Hi", "to": ["+306948530920"]}
    for field, value in [
        ("scheduled_at", 1900000000),
        ("flash", 0),
        ("transcode", "true"),
        ("groups", ["5"]),
        ("contacts", [True]),
        ("groups", [2**53]),
    ]:
        r = await acme.http.post("/campaigns", json={**base, field: value})
        err = error(r, 422, "invalid_request")
        assert err["details"][0]["location"].startswith(f"body.{field}"), err
    group = (await acme.http.post("/groups", json={"name": "G"})).json()
    contact = (await acme.http.post("/contacts", json={"phone": 306948530920})).json()
    assert contact["phone"] == "+306948530920"  # numbers for text, as the schema says
    r = await acme.http.post(
        f"/groups/{group['id']}/contacts", json={"contact_ids": [float(contact["id"])]}
    )
    assert r.status_code == 200 and r.json()["member_count"] == 1  # 5.0 is a JSON integer


async def test_rules_the_schema_cannot_state_are_400s(api: Api) -> None:
    acme = await api.account()
    body: dict[str, Any] = {
        "name": "Quiet",
        "sender": "Herald",
        "message": "Hi",
        "to": ["+306948530920"],
    }
    body["quiet_hours"] = [{"from": "23:00", "to": "08:00"}, {"from": "12:00", "to": "12:00"}]
    err = error(await acme.http.post("/campaigns", json=body), 400, "invalid_quiet_hours")
    assert err["details"] == {"index": 1, "from": "12:00", "to": "12:00"}
    r = await acme.http.patch("/contacts/1", json={"phone": None})
    error(r, 422, "invalid_request")  # the schema says a phone is never null
    spec = await spec_of(api)
    phone = spec["components"]["schemas"]["ContactPatch"]["properties"]["phone"]
    assert {"type": "null"} not in phone.get("anyOf", [])
