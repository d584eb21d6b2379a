"""What happens when a phone opens a short link (docs/api.md, links).

`/l/{code}`: the redirect's target, the click handed to the ClickRecorder (written later, off
the redirect's path). `/o/{code}`: what the opt-out page shows, and the opt-out itself, which
only a confirmation (a POST from the page) makes: a link preview fetching the page opts nobody
out. The code is the secret that makes the POST the recipient's (72 random bits, unguessable),
so the page needs no other token. An opt-out is idempotent: the number joins the account's
blacklist once (source `opt_out_link`), and a second confirmation says it is done.

A link works while its run is sending and `links.ttl_days` after the run ended; then, and for
a code that is not one, LinkUnavailableError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from herald.campaigns.clicks import USER_AGENT_MAX, Click, ClickRecorder
from herald.campaigns.links import CLICK, CODE_RE, OPT_OUT
from herald.errors import LinkUnavailableError
from herald.metrics import Metrics
from herald.store import links as store
from herald.store.db import Database
from herald.store.links import Link


@dataclass(frozen=True, slots=True)
class OptOutPage:
    """What the opt-out page says: whose messages stop, for which number (masked)."""

    sender: str
    phone: str  # masked: the link may have been forwarded
    done: bool  # the number has opted out through this link


class LinkVisits:
    def __init__(
        self,
        db: Database,
        *,
        ttl_days: int,
        clock: Callable[[], datetime],
        metrics: Metrics,
        clicks: ClickRecorder | None = None,
    ) -> None:
        """Without a ClickRecorder (an API not run by the daemon), each click is written
        before its redirect answers."""
        self._db = db
        self._ttl = timedelta(days=ttl_days)
        self._clock = clock
        self._metrics = metrics
        self._clicks = clicks

    async def target(self, code: str) -> str:
        """Where tracked link `code` redirects, without counting a click."""
        return _target(await self._link(code, CLICK))

    async def click(self, code: str, user_agent: str | None) -> str:
        """Where tracked link `code` redirects; its click is recorded."""
        link = await self._link(code, CLICK)
        target = _target(link)
        click = Click(link.message_id, link.campaign_id, self._clock(), user_agent)
        if self._clicks is not None:
            await self._clicks.add(click)
        else:
            recorder = ClickRecorder(self._db, metrics=self._metrics)
            await recorder.add(click)
            await recorder.flush()
        return target

    async def opt_out_page(self, code: str) -> OptOutPage:
        """What the opt-out page of `code` shows before anything is confirmed."""
        link = await self._link(code, OPT_OUT)
        async with self._db.acquire() as conn:
            subject = await store.opt_out_subject(conn, link.message_id)
        if subject is None:
            raise LinkUnavailableError(f"link {code}: its message is gone")
        return OptOutPage(subject.sender, mask_phone(subject.phone), subject.opted_out)

    async def opt_out(self, code: str, user_agent: str | None) -> OptOutPage:
        """Confirm the opt-out of `code`: the number joins its account's blacklist."""
        link = await self._link(code, OPT_OUT)
        async with self._db.acquire() as conn, conn.transaction():
            subject = await store.opt_out_subject(conn, link.message_id)
            if subject is None:
                raise LinkUnavailableError(f"link {code}: its message is gone")
            first = await store.opt_out_through_link(
                conn, subject, link.campaign_id, self._clock(), _clip(user_agent)
            )
        if first:
            self._metrics.opt_outs["opt_out_link"] += 1
        return OptOutPage(subject.sender, mask_phone(subject.phone), True)

    async def _link(self, code: str, kind: str) -> Link:
        if not CODE_RE.fullmatch(code):  # not a code at all: no query for it
            raise LinkUnavailableError(f"{code[:40]!r} is not a link code")
        async with self._db.acquire() as conn:
            link = await store.link_by_code(conn, code, kind)
        if link is None:
            raise LinkUnavailableError(f"no link {code}")
        if link.finished_at is not None and link.finished_at + self._ttl < self._clock():
            raise LinkUnavailableError(f"link {code} expired", expired=True)
        return link


def _target(link: Link) -> str:
    if link.link_url is None:  # a run stores it before it makes any code
        raise LinkUnavailableError(f"link {link.code} has no target")
    return link.link_url


def mask_phone(phone: str) -> str:
    """+306948530920 -> +3069•••••920: enough for its owner to know it, not to read it."""
    if len(phone) < 8:
        return phone[:2] + "•" * max(0, len(phone) - 2)
    return phone[:5] + "•" * (len(phone) - 8) + phone[-3:]


def _clip(user_agent: str | None) -> str | None:
    return None if user_agent is None else user_agent[:USER_AGENT_MAX]
