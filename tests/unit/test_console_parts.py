"""The console's pure parts: session cookies, the campaign form, the buttons a state allows,
charts, the report's timeline, keyset pages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.datastructures import FormData, UploadFile

from herald.config import Config
from herald.states import CAMPAIGN
from herald.ui import charts
from herald.ui.campaign_form import CampaignForm, pairs
from herald.ui.formats import seconds
from herald.ui.insight import CHART_POINTS, timeline_interval
from herald.ui.paging import TRAIL_MAX, Cursor
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
    keyed = Config.model_validate({"state_dir": tmp_path, "ui": {"session_key": "s" * 20}})
    assert load_secret(keyed) == b"s" * 20


@pytest.mark.parametrize("status", CAMPAIGN.states)
def test_the_buttons_are_the_moves_the_campaign_table_allows(status: str) -> None:
    shown = actions_for(status)
    assert [a for a in shown if a != "delete"] == [
        a for a in ("run", "suspend", "resume", "stop") if a in CAMPAIGN.user_actions(status)
    ]
    assert ("delete" in shown) == (status not in ("running", "suspended"))


def form(**fields: str | list[str]) -> CampaignForm:
    items: list[tuple[str, str | UploadFile]] = []
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


def test_the_timeline_has_at_most_chart_points_whole_minutes_over_the_runs() -> None:
    assert timeline_interval([], NOW) == 60  # nothing run yet
    assert timeline_interval([{"started_at": None, "finished_at": None}], NOW) == 60
    ten_minutes = {"started_at": NOW - timedelta(minutes=10), "finished_at": None}
    assert timeline_interval([ten_minutes], NOW) == 60
    day = NOW - timedelta(days=1)
    runs: list[dict[str, datetime | None]] = [
        {"started_at": day, "finished_at": day + timedelta(hours=1)},
        {"started_at": NOW - timedelta(hours=2), "finished_at": None},  # still running
    ]
    interval = timeline_interval(runs, NOW)
    assert interval % 60 == 0 and 86_400 / interval <= CHART_POINTS < 86_400 / (interval - 60)
    year = {"started_at": NOW - timedelta(days=365), "finished_at": NOW}
    assert timeline_interval([year], NOW) == 86_400  # the report's widest bucket


def test_message_pages_walk_forward_and_back_by_id() -> None:
    first = Cursor(after=None, trail=(), size=50, shown=50, last_id=150, total=1000)
    assert first.first and first.previous_query is None
    assert first.next_query == "after=150&trail=0"
    second = Cursor(after=150, trail=(0,), size=50, shown=50, last_id=200, total=None)
    assert second.previous_query == ""  # the first page
    assert second.next_query == "after=200&trail=0,150"
    third = Cursor(after=200, trail=(0, 150), size=50, shown=3, last_id=203, total=None)
    assert third.next_query is None  # a short page is the last
    assert third.previous_query == "after=150&trail=0"
    assert Cursor.parse_trail("0,150,x,-1,99999999999999999999") == (0, 150)
    long = ",".join(str(i) for i in range(TRAIL_MAX + 10))
    assert len(Cursor.parse_trail(long)) == TRAIL_MAX


def test_durations_read_as_people_say_them() -> None:
    assert seconds(None) == "—" and seconds(0.4123) == "0.41 s" and seconds(42.4) == "42 s"
    assert seconds(75.0) == "1 min 15 s" and seconds(7260.0) == "2 h 1 min"


def test_the_progress_bar_is_in_proportion_and_says_what_it_shows() -> None:
    outcome = charts.Outcome.of({"delivered": 3, "failed": 1, "rejected": 1, "queued": 5})
    assert (outcome.delivered, outcome.failed, outcome.pending) == (3, 2, 5)
    bar = str(charts.progress_bar(outcome, width=100))
    assert 'aria-label="3 delivered, 2 failed, 5 pending"' in bar
    assert 'width="30.00"' in bar and 'width="20.00"' in bar and 'width="50.00"' in bar
    assert str(charts.bar_chart([("<script>", 1)], title="t")).count("<script>") == 0
    assert charts.timeline_chart([], title="t") == ""
    one = str(charts.timeline_chart([{"at": NOW, "sent": 4, "delivered": 3}], title="t"))
    assert one.count("<circle") == 2  # one minute of a run is a dot per series, not nothing


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


async def test_summaries_keep_at_most_max_entries_the_least_recently_read_go_first() -> None:
    reads: list[int] = []

    async def read(account_id: int, campaign_id: int) -> dict[str, object]:
        reads.append(campaign_id)
        return {"id": campaign_id}

    summaries = Summaries(read, min_age=3600.0, max_entries=2)
    for campaign in (1, 2, 1, 3, 1, 2):  # 3 pushes out 2 (1 was read since), then 2 is read again
        await summaries.get(1, campaign)
    assert reads == [1, 2, 3, 2]
