"""A campaign body's spec hands its recipients to the intake as read off the models (not
dumped, for speed): the intake must read them exactly as it read the dump."""

from __future__ import annotations

from typing import Any

from herald.api.schemas import CampaignIn, CampaignPatch
from herald.campaigns.audience import check_recipients

RECIPIENTS: list[dict[str, Any]] = [
    {"phone": "+306948530921", "name": "Eleni", "labels": {"code": "EL20"}, "client_ref": "c-1"},
    {"phone": "+306948530922"},  # nothing but the number
    {"phone": 306948530923, "name": 7, "labels": {"n": 5}},  # numbers where text is expected
    {"phone": "+306948530924", "name": None, "labels": {}},
]


def intake(recipients: list[dict[str, Any]]) -> list[Any]:
    checked = check_recipients([], recipients, default_region=None, max_recipients=100)
    return checked.rows


def test_the_intake_reads_the_spec_as_it_read_the_dump() -> None:
    body = CampaignIn.model_validate(
        {"sender": "Herald", "message": "Hi", "recipients": RECIPIENTS}
    )
    dumped = body.model_dump(exclude_unset=True, by_alias=True)["recipients"]
    assert intake(body.spec()["recipients"]) == intake(dumped)
    assert [r.phone_raw for r in intake(body.spec()["recipients"])] == [
        "+306948530921",
        "+306948530922",
        "306948530923",
        "+306948530924",
    ]


def test_recipients_not_given_or_null_stay_out_of_a_new_campaigns_spec() -> None:
    assert "recipients" not in CampaignIn.model_validate({"sender": "H", "message": "Hi"}).spec()
    body = {"sender": "H", "message": "Hi", "recipients": None}
    assert "recipients" not in CampaignIn.model_validate(body).spec()


def test_a_patch_spec_names_each_recipients_fields() -> None:
    patch = CampaignPatch.model_validate({"recipients": [{"phone": "+306948530921"}]})
    assert patch.spec() == {
        "recipients": [{"phone": "+306948530921", "name": None, "labels": {}, "client_ref": None}]
    }
