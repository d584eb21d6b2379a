"""The console's pure parts: session cookies, the campaign form, the buttons a state allows,
charts and CSV cells."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.datastructures import FormData

from herald.config import Config
from herald.states import CAMPAIGN
from herald.ui import charts
from herald.ui.campaign_form import CampaignForm, pairs
from herald.ui.insight import report_from_progress, safe_cell
from herald.ui.routes.auth import _safe_next
from herald.ui.routes.campaigns import actions_for
from herald.ui.sessions import SessionCodec, load_secret
from herald.ui.summaries import Summaries

NOW = datetime(2030, 5, 1, 6, 0, tzinfo=UTC)


def codec() -> SessionCodec:
    return SessionCodec(lambda: b"k" * 32, timedelta(hours=12))


def test_a_session_round_trips_and_a_changed_or_old_cookie_does_not() -> None:
    c = codec()
    session = c.start(account_id=7, account_name="shop", key_id=3, key_prefix="hk_ab", now=NOW)
    value = c.encode(session)
    assert c.decode(value, NOW) == session
    assert c.decode(value, NOW + timedelta(hours=12)) is None  # expired
    body, mac = value.split(".")
    assert c.decode(body + "." + mac[:-2] + "AA", NOW) is None
    forged = body.replace(body[5], "A" if body[5] != "A" else "B", 1)
    assert c.decode(forged + "." + mac, NOW) is None
    other = SessionCodec(lambda: b"x" * 32, timedelta(hours=12))
    assert other.decode(value, NOW) is None
    for junk in ("", "a", "a.b.c", "%%%.%%%", "x" * 5000):
        assert c.decode(junk, NOW) is None


def test_csrf_tokens_belong_to_their_session() -> None:
    c = codec()
    one = c.start(account_id=1, account_name="a", key_id=1, key_prefix="hk_a", now=NOW)
    two = c.start(account_id=1, account_name="a", key_id=1, key_prefix="hk_a", now=NOW)
    assert c.csrf_ok(one, c.csrf_token(one))
    assert not c.csrf_ok(two, c.csrf_token(one))
    assert not c.csrf_ok(one, None) and not c.csrf_ok(one, "")


def test_the_secret_is_made_once_per_state_dir_and_kept_private(tmp_path: Path) -> None:
    config = Config(state_dir=tmp_path)
    first = load_secret(config)
    assert load_secret(config) == first and len(first) == 32
    assert (tmp_path / "ui-session.key").stat().st_mode & 0o077 == 0
    assert load_secret(Config(state_dir=tmp_path, ui={"session_key": "s" * 20})) == b"s" * 20


@pytest.mark.parametrize("status", CAMPAIGN.states)
def test_the_buttons_are_the_moves_the_campaign_table_allows(status: str) -> None:
    shown = actions_for(status)
    assert [a for a in shown if a != "delete"] == [
        a for a in ("run", "suspend", "resume", "stop") if a in CAMPAIGN.user_actions(status)
    ]
    assert ("delete" in shown) == (status not in ("running", "suspended"))


def form(**fields: str | list[str]) -> CampaignForm:
    items: list[tuple[str, str]] = []
    for name, value in fields.items():
        for v in value if isinstance(value, list) else [value]:
            items.append((name, v))
    return CampaignForm.read(FormData(items))


def test_the_campaign_form_becomes_the_apis_request() -> None:
    f = form(
        sender="Shop",
        message="Hi %Name%",
        fallback="name = there\ncode: X1",
        to="+306948530920, +306948530921\n\n",
        groups=["3", "x", "3"],
        respect_quiet_hours="on",
        quiet_hours="23:00-08:00, 9:30-10:00",
        send="later",
        scheduled_at="2030-05-02T09:00",
        time_zone="Europe/Athens",
        reminder_numbers="+306948530999",
        reminder_minutes="30",
    )
    body = f.request(NOW)
    assert f.errors == {}
    assert body == {
        "sender": "Shop",
        "message": "Hi %Name%",
        "fallback_values": {"name": "there", "code": "X1"},
        "to": ["+306948530920", "+306948530921"],
        "groups": [3],
        "respect_quiet_hours": True,
        "quiet_hours": [{"from": "23:00", "to": "08:00"}, {"from": "09:30", "to": "10:00"}],
        "scheduled_at": "2030-05-02T09:00:00+03:00",
        "reminder": {"numbers": ["+306948530999"], "minutes_before": 30},
    }


def test_the_campaign_form_names_the_field_in_error() -> None:
    f = form(
        sender="Shop",
        message="Hi",
        fallback="no separator",
        respect_quiet_hours="on",
        quiet_hours="late",
        send="later",
        time_zone="Mars/Base",
        scheduled_at="2030-05-02T09:00",
    )
    assert f.request(NOW) is None
    assert set(f.errors) == {"fallback", "quiet_hours", "scheduled_at"}
    assert "Mars/Base" in f.errors["scheduled_at"]
    bad = form(sender="Shop", message="", callback="not a url")
    assert bad.request(NOW) is None
    assert set(bad.errors) == {"message", "callback"}
    assert pairs("a=1\n\nb : 2") == ({"a": "1", "b": "2"}, None)


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        (None, "/ui/campaigns"),
        ("/ui/contacts?group=2", "/ui/contacts?group=2"),
        ("https://evil.example/ui/x", "/ui/campaigns"),
        ("//evil.example/ui/", "/ui/campaigns"),
        ("/ui/sign-out", "/ui/campaigns"),
        ("/metrics", "/ui/campaigns"),
    ],
)
def test_after_signing_in_only_a_console_page(target: str | None, landing: str) -> None:
    assert _safe_next(target, "/ui") == landing


def test_csv_cells_never_start_a_formula_but_numbers_stay_numbers() -> None:
    assert safe_cell("+306948530920") == "+306948530920"
    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_cell("+1+1") == "'+1+1"
    assert safe_cell("-x") == "'-x" and safe_cell("@x") == "'@x"
    assert safe_cell("a\nb") == "a b" and safe_cell(None) == ""
    assert safe_cell(NOW) == "2030-05-01T06:00:00+00:00"


def test_the_report_without_the_report_service_is_the_progress() -> None:
    messages = {"expected": 10, "queued": 0, "deferred": 0, "sending": 0, "sent": 1}
    messages |= {"delivered": 6, "failed": 1, "rejected": 1, "unknown": 1, "stopped": 0}
    report = report_from_progress({"progress": {"messages": messages}})
    assert report["partial"] and report["timeline"]["points"] == []
    assert report["messages"]["accepted"] == 9  # sent, delivered, failed, unknown
    assert report["delivery_rate"] == round(6 / 9, 4)


def test_the_progress_bar_is_in_proportion_and_says_what_it_shows() -> None:
    outcome = charts.Outcome.of({"delivered": 3, "failed": 1, "rejected": 1, "queued": 5})
    assert (outcome.delivered, outcome.failed, outcome.pending) == (3, 2, 5)
    bar = str(charts.progress_bar(outcome, width=100))
    assert 'aria-label="3 delivered, 2 failed, 5 pending"' in bar
    assert 'width="30.00"' in bar and 'width="20.00"' in bar and 'width="50.00"' in bar
    assert str(charts.bar_chart([("<script>", 1)], title="t")).count("<script>") == 0
    assert charts.timeline_chart([], title="t") == ""


async def test_summaries_are_reused_in_proportion_to_their_cost_and_forgotten_on_change() -> None:
    now = [100.0]
    reads: list[tuple[int, int]] = []

    async def read(account_id: int, campaign_id: int) -> dict[str, object]:
        reads.append((account_id, campaign_id))
        now[0] += 0.5  # the read takes half a second
        return {"read": len(reads)}

    summaries = Summaries(read, clock=lambda: now[0])
    assert await summaries.get(1, 7) == {"read": 1}
    now[0] += 2.4  # within five times the cost of the read: reused
    assert await summaries.get(1, 7) == {"read": 1}
    assert await summaries.get(2, 7) == {"read": 2}  # another account never shares it
    now[0] += 2.0
    assert await summaries.get(1, 7) == {"read": 3}
    summaries.forget(1, 7)
    assert await summaries.get(1, 7) == {"read": 4}
    assert reads == [(1, 7), (2, 7), (1, 7), (1, 7)]


async def test_summaries_read_at_the_same_time_share_one_read() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    reads = 0

    async def read(account_id: int, campaign_id: int) -> dict[str, object]:
        nonlocal reads
        reads += 1
        started.set()
        await release.wait()
        return {"id": campaign_id}

    summaries = Summaries(read)
    first = asyncio.ensure_future(summaries.get(1, 3))
    await started.wait()
    second = asyncio.ensure_future(summaries.get(1, 3))
    release.set()
    assert await first == await second == {"id": 3}
    assert reads == 1
