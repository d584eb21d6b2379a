"""What herald writes as XML it reads back as the same JSON, under the request schemas of the
XML routes (herald/api/xml.py): any campaign body, any run body."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from herald.api.schemas import CampaignIn, RunIn
from herald.api.xml import _Schemas, data_to_xml, parse_xml, xml_to_data

# XML 1.0 carries these characters (herald writes U+FFFD for the others).
TEXT = st.text(
    st.characters(
        blacklist_categories=["Cs"],
        blacklist_characters="\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f"
        "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\ufffe\uffff",
    ),
    max_size=20,
).filter(lambda t: t != "null")  # "null": null where a field may be
LABELS = st.dictionaries(TEXT.filter(bool), TEXT, max_size=3)
MAYBE = st.none() | st.booleans()
RECIPIENT = st.fixed_dictionaries(
    {"phone": TEXT.filter(bool)},
    optional={"name": st.none() | TEXT, "labels": LABELS, "client_ref": st.none() | TEXT},
)
CAMPAIGN = st.fixed_dictionaries(
    {"name": TEXT, "sender": TEXT, "message": TEXT},
    optional={
        "to": st.none() | st.lists(TEXT, max_size=3),
        "recipients": st.none() | st.lists(RECIPIENT, max_size=3),
        "contacts": st.none() | st.lists(st.integers(1, 2**53 - 1), max_size=3),
        "fallback_values": st.none() | LABELS,
        "flash": MAYBE,
        "respect_quiet_hours": MAYBE,
        "quiet_hours": st.none()
        | st.lists(st.fixed_dictionaries({"from": TEXT, "to": TEXT}), max_size=2),
        "scheduled_at": st.none() | TEXT,
        "callback": st.none() | TEXT,
        "reminder": st.none()
        | st.fixed_dictionaries(
            {"numbers": st.lists(TEXT, max_size=2), "minutes_before": st.integers(-5, 10**6)}
        ),
    },
)
RUN = st.fixed_dictionaries(
    {}, optional={"message": st.none() | TEXT, "batch_description": st.none() | TEXT}
)


def read_back(value: dict[str, Any], model: type[BaseModel], root: str) -> Any:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = _Schemas(schema.get("$defs", {}))
    document = data_to_xml(value, root)
    return xml_to_data(parse_xml(document, max_elements=10_000, max_depth=32), schema, schemas)


@settings(max_examples=300, deadline=None)
@given(CAMPAIGN)
def test_campaign_bodies_read_back_as_written(body: dict[str, Any]) -> None:
    assert read_back(body, CampaignIn, "campaign") == body


@settings(max_examples=100, deadline=None)
@given(RUN)
def test_run_bodies_read_back_as_written(body: dict[str, Any]) -> None:
    assert read_back(body, RunIn, "run") == body
