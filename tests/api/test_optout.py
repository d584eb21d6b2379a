"""A mobile-originated opt-out keyword blacklists its sender for the accounts owning the
sender id it was sent to; the API shows it and campaigns leave the number out."""

from __future__ import annotations

from herald.delivery.replies import handle_mobile_originated, is_opt_out
from tests.api.conftest import Api
from tests.api.test_api_auth import error

KEYWORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")


def test_keywords_are_matched_trimmed_and_case_folded() -> None:
    assert is_opt_out("  stop\n", KEYWORDS) and is_opt_out("Unsubscribe", KEYWORDS)
    assert is_opt_out("STRASSE", ("straße",))  # case folding, not just lower()
    assert not is_opt_out("stop it", KEYWORDS) and not is_opt_out("", KEYWORDS)


async def test_opt_out_blacklists_for_the_owners_of_the_sender(api: Api) -> None:
    acme = await api.account("acme", senders=("12345", "306900000001"))
    shared = await api.account("shared", senders=("12345",))
    other = await api.account("other", senders=("99999",))

    async def mo(source: str, destination: str, text: str) -> list[int]:
        return await handle_mobile_originated(
            api.db,
            source_addr=source,
            destination_addr=destination,
            text=text,
            keywords=api.config.campaigns.opt_out_keywords,
        )

    assert await mo("306948530920", "12345", "Hello there") == []
    assert await mo("306948530920", "12345", " Stop ") == sorted([acme.id, shared.id])
    assert await mo("306948530920", "12345", "STOP") == sorted([acme.id, shared.id])  # again
    assert await mo("+447400123456", "+306900000001", "quit") == [acme.id]
    assert await mo("not a number", "12345", "STOP") == []
    assert await mo("306948530921", "55555", "STOP") == []  # nobody owns that sender

    listed = (await acme.http.get("/blacklist")).json()
    assert [(e["phone"], e["source"]) for e in listed["items"]] == [
        ("+306948530920", "opt_out"),
        ("+447400123456", "opt_out"),
    ]
    assert [e["phone"] for e in (await shared.http.get("/blacklist")).json()["items"]] == [
        "+306948530920"
    ]
    assert (await other.http.get("/blacklist")).json()["total"] == 0

    err = error(
        await acme.http.post(
            "/campaigns",
            json={
                "name": "After STOP",
                "sender": "12345",
                "message": "Hi",
                "to": ["+306948530920"],
            },
        ),
        400,
        "no_recipients",
    )
    assert err["details"]["blacklisted"] == ["+306948530920"]
    r = await acme.http.post(
        "/campaigns",
        json={
            "name": "Others still",
            "sender": "12345",
            "message": "Hi",
            "to": ["+306948530920", "+306948530922"],
        },
    )
    assert r.status_code == 201 and r.json()["run"]["rejected_reasons"] == {"blacklisted": 1}
