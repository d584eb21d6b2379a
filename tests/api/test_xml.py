"""XML on the create, run and get-campaign endpoints (issue 21, item 6): chosen by
Content-Type and Accept, JSON the default, read safely (no DTD, no entities, bounded)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from herald.api.xml import answers_xml, data_to_xml
from tests.api.conftest import Api, Caller

XML = {"Content-Type": "application/xml", "Accept": "application/xml"}

CAMPAIGN = """<?xml version="1.0" encoding="UTF-8"?>
<campaign>
  <name>Spring sale</name>
  <sender>Herald</sender>
  <message>Hi %Name%, code [~first code]</message>
  <to>+306948530920</to>
  <to>+306948530921</to>
  <recipients>
    <item>
      <phone>+306948530922</phone>
      <name>Eleni</name>
      <labels><entry key="first code">EL20</entry><city>Athens</city></labels>
      <client_ref>crm-9</client_ref>
    </item>
  </recipients>
  <fallback_values><entry key="first code">SPRING</entry><name>friend</name></fallback_values>
  <respect_quiet_hours>false</respect_quiet_hours>
  <flash>0</flash>
  <callback nil="true"/>
</campaign>"""


def parsed(response: Any) -> ET.Element:
    assert response.headers["content-type"] == "application/xml; charset=utf-8", response.text
    return ET.fromstring(response.content)


async def test_create_run_and_read_a_campaign_in_xml(api: Api) -> None:
    acme = await api.account(credit=100)
    r = await acme.http.post("/campaigns", content=CAMPAIGN.encode(), headers=XML)
    assert r.status_code == 201, r.text
    campaign = parsed(r)
    assert campaign.tag == "campaign" and campaign.findtext("status") == "running"
    assert campaign.findtext("run/count") == "3" and campaign.findtext("run/credit_used") == "3"
    assert campaign.find("scheduled_at").get("nil") == "true"  # type: ignore[union-attr]
    assert campaign.findtext("respect_quiet_hours") == "false"
    assert campaign.find("fallback_values/entry[@key='first code']").text == "SPRING"  # type: ignore[union-attr]
    assert [e.text for e in campaign.findall("intake/invalid_numbers/item")] == []
    campaign_id = campaign.findtext("id")
    messages = (await acme.http.get(f"/campaigns/{campaign_id}/messages")).json()["items"]
    assert [(m["text"], m["client_ref"]) for m in messages] == [
        ("Hi friend, code SPRING", None),
        ("Hi friend, code SPRING", None),
        ("Hi Eleni, code EL20", "crm-9"),
    ]

    # reading: Accept decides, JSON by default
    read = await acme.http.get(f"/campaigns/{campaign_id}", headers={"Accept": "application/xml"})
    assert parsed(read).findtext("name") == "Spring sale"
    assert (await acme.http.get(f"/campaigns/{campaign_id}")).json()["name"] == "Spring sale"
    both = await acme.http.get(
        f"/campaigns/{campaign_id}", headers={"Accept": "application/json;q=0.5, text/xml"}
    )
    assert parsed(both).tag == "campaign"

    # an XML body with no Accept is answered in XML; with Accept JSON, in JSON
    async with api.db.acquire() as conn:
        await conn.execute("UPDATE messages SET status = 'delivered'")
        await conn.execute("UPDATE batches SET status = 'completed'")
        await conn.execute("UPDATE campaigns SET status = 'completed'")
    run = b"<run><batch_description>second wave</batch_description></run>"
    first = await acme.http.post(
        f"/campaigns/{campaign_id}/run",
        content=run,
        headers={"Content-Type": "text/xml", "Idempotency-Key": "run-2"},
    )
    assert first.status_code == 200 and parsed(first).findtext("number") == "2"
    again = await acme.http.post(
        f"/campaigns/{campaign_id}/run",
        content=run,
        headers={"Content-Type": "text/xml", "Accept": JSON, "Idempotency-Key": "run-2"},
    )
    assert again.headers["idempotent-replayed"] == "true" and again.json()["number"] == 2
    # the same request as JSON is the same request: replayed, not refused
    as_json = await acme.http.post(
        f"/campaigns/{campaign_id}/run",
        json={"batch_description": "second wave"},
        headers={"Idempotency-Key": "run-2"},
    )
    assert as_json.headers["idempotent-replayed"] == "true"


JSON = "application/json"


async def refused(caller: Caller, body: bytes, status: int, code: str) -> ET.Element:
    r = await caller.http.post("/campaigns", content=body, headers=XML)
    assert r.status_code == status, r.text
    error = parsed(r)
    assert error.tag == "error" and error.findtext("code") == code, r.text
    return error


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<campaign><name>&lol2;</name></campaign>"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]><campaign><name>&x;</name></campaign>"""


async def test_xml_that_is_not_read_and_xml_that_breaks_the_schema(api: Api) -> None:
    acme = await api.account()
    for hostile in (BILLION_LAUGHS, EXTERNAL):
        error = await refused(acme, hostile, 400, "malformed_body")
        assert "DTD" in (error.findtext("message") or "")
    await refused(acme, b"<campaign><name>x</campaign>", 400, "malformed_body")
    deep = b"<campaign>" + b"<a>" * 40 + b"</a>" * 40 + b"</campaign>"
    error = await refused(acme, deep, 400, "malformed_body")
    assert "max_xml_depth" in (error.findtext("message") or "")
    many = b"<campaign><to>" + b"<item>+306948530920</item>" * 300_000 + b"</to></campaign>"
    error = await refused(acme, many, 400, "malformed_body")
    assert "max_xml_elements" in (error.findtext("message") or "")
    error = await refused(
        acme,
        b"<campaign><name>x</name><sender>Herald</sender><message>Hi</message></campaign>",
        422,
        "invalid_request",
    )
    assert error.findtext("details/item/location") == "body.name"
    await refused(
        acme,
        b"<campaign><name>Twice</name><name>Twice</name><sender>H</sender></campaign>",
        400,
        "malformed_body",
    )
    # the guard's own refusals speak XML to whom prefers it
    r = await api.client().post("/campaigns", content=CAMPAIGN.encode(), headers=XML)
    assert r.status_code == 401 and parsed(r).findtext("code") == "unauthorized"
    # JSON stays the default everywhere else
    r = await acme.http.get("/senders", headers={"Accept": "application/xml"})
    assert r.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("accept", "sent_xml", "xml"),
    [
        (None, False, False),
        (None, True, True),
        ("*/*", True, True),
        ("application/json", True, False),
        ("application/xml", False, True),
        ("text/xml;q=0.9, application/json;q=0.8", False, True),
        ("application/*;q=0.5, application/json", False, False),
        ("application/xml;q=0, */*", True, False),
        ("text/html", True, True),
    ],
)
def test_negotiation(accept: str | None, sent_xml: bool, xml: bool) -> None:
    assert answers_xml(accept, sent_xml) is xml


def test_answers_are_well_formed_whatever_they_hold() -> None:
    document = data_to_xml(
        {"a b": [1, None, True], "text": "ok\x01 & <fine>", "xml-ish": {"1st": "x"}}, "root"
    )
    root = ET.fromstring(document)
    assert [e.text for e in root.find("entry[@key='a b']")] == ["1", None, "true"]  # type: ignore[union-attr]
    assert root.findtext("text") == "ok\ufffd & <fine>"
    assert root.find("entry[@key='xml-ish']/entry[@key='1st']").text == "x"  # type: ignore[union-attr]
