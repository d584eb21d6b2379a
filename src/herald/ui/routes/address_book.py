"""Contacts, groups, the blacklist and senders: list, search, add, import, remove. Input is
checked by the API's own models (herald.api.schemas) and stored by the same services."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from herald.api.schemas import MAX_ID, BlacklistIn, ContactIn, GroupIn, SenderIn
from herald.errors import RequestError
from herald.ui.campaign_form import pairs
from herald.ui.console import ConsoleDep, Form, NotFound, SignedIn, see_other, text
from herald.ui.paging import Pager
from herald.ui.uploads import Upload, recipient_rows

router = APIRouter()

CONTACTS_IMPORT_PATH = "/contacts/import"
PAGE = 50
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
_SPLIT = re.compile(r"[\n,;]+")


def _invalid(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def _checked(model: type[BaseModel], body: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestError("invalid_request", _invalid(exc)) from None


def _notice(request: Request) -> dict[str, str | None]:
    q = request.query_params
    return {"notice": q.get("notice"), "detail": q.get("detail"), "error": q.get("error")}


# --- contacts ---------------------------------------------------------------------------------


@router.get("/contacts")
async def contacts_page(
    request: Request,
    ui: ConsoleDep,
    session: SignedIn,
    phone: Annotated[str, Query(max_length=20)] = "",
    name: Annotated[str, Query(max_length=100)] = "",
    group_id: Annotated[str, Query(alias="group", max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    book = ui.services.book
    # The search form sends `group=` for "any group".
    group = int(group_id) if group_id.isdigit() and 0 < int(group_id) <= MAX_ID else None
    prefix = phone.strip().replace(" ", "") or None
    try:
        total, rows = await book.contacts(
            session.account_id,
            phone_prefix=prefix,
            name_contains=name.strip() or None,
            group_id=group,
            limit=PAGE,
            offset=(page - 1) * PAGE,
        )
        in_group = await book.group(session.account_id, group) if group else None
    except RequestError as exc:
        if exc.code == "group_not_found":
            raise NotFound(f"There is no group {group} in this account.") from None
        raise
    _, groups = await book.groups(session.account_id, limit=500, offset=0)
    return ui.page(
        request,
        "contacts.html",
        {
            "nav": "contacts",
            "rows": rows,
            "pager": Pager(page=page, size=PAGE, total=total),
            "filters": {"phone": phone, "name": name, "group": group},
            "in_group": in_group,
            "groups": groups,
            **_notice(request),
        },
        session=session,
    )


@router.post("/contacts")
async def add_contact(request: Request, ui: ConsoleDep, session: SignedIn, form: Form) -> Response:
    labels, bad = pairs(text(form, "labels"))
    if bad:
        return see_other(request, "/contacts", error=f"labels, line {bad}: write label = value")
    body: dict[str, Any] = {"phone": text(form, "phone"), "labels": labels}
    if text(form, "name"):
        body["name"] = text(form, "name")
    try:
        contact = _checked(ContactIn, body)
        assert isinstance(contact, ContactIn)
        row = await ui.services.book.create_contact(
            session.account_id, contact.phone, contact.name, contact.labels
        )
    except RequestError as exc:
        return see_other(request, "/contacts", error=str(exc))
    return see_other(request, "/contacts", notice="added", detail=f"contact {row['phone']} added")


@router.post(CONTACTS_IMPORT_PATH)
async def import_contacts(
    request: Request, ui: ConsoleDep, session: SignedIn, form: Form
) -> Response:
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return see_other(request, "/contacts", error="choose a CSV or XLSX file to import")
    group_text = text(form, "group")
    group_id = int(group_text) if group_text.isdigit() else None
    upload = Upload(
        file=file.file,
        filename=file.filename,
        content_type=file.content_type,
        phone_column=text(form, "phone_column") or "phone",
        name_column=text(form, "name_column"),
        label_columns=text(form, "label_columns") or "*",
    )
    limit = ui.config.api.max_recipients_per_request
    try:
        rows, summary = await recipient_rows(
            upload, region=ui.config.campaigns.default_region, limit=limit
        )
        if not rows:
            raise RequestError("invalid_file", "no row of the file can be used")
        result = await ui.services.book.import_contacts(
            session.account_id,
            [{"phone": r.phone, "name": r.name, "labels": r.labels} for r in rows],
            group_id,
        )
    except RequestError as exc:
        return see_other(request, "/contacts", error=str(exc))
    said = f"{result['created']} created, {result['updated']} updated"
    if summary.bad:
        reasons = ", ".join(f"{n} {r}" for r, n in summary.reasons.items())
        said += f"; {summary.bad} bad row(s) left out ({reasons})"
    return see_other(request, "/contacts", notice="imported", detail=said)


@router.post("/contacts/{contact_id:int}/delete")
async def delete_contact(
    request: Request, ui: ConsoleDep, session: SignedIn, form: Form, contact_id: Id
) -> Response:
    try:
        await ui.services.book.delete_contact(session.account_id, contact_id)
    except RequestError as exc:
        raise NotFound(str(exc)) from None
    return see_other(request, "/contacts", notice="removed", detail=f"contact {contact_id} removed")


@router.post("/contacts/selected")
async def selected_contacts(
    request: Request, ui: ConsoleDep, session: SignedIn, form: Form
) -> Response:
    """The checked contacts: into a new campaign, into a group, or out of the group shown."""
    ids = [int(v) for v in form.getlist("contact") if isinstance(v, str) and v.isdigit()]
    action = text(form, "action")
    if not ids:
        return see_other(request, "/contacts", error="check at least one contact first")
    if action == "campaign":
        return see_other(request, "/campaigns/new", contacts=",".join(map(str, ids)))
    group_text = text(form, "group")
    if not group_text.isdigit():
        return see_other(request, "/contacts", error="choose a group")
    group_id = int(group_text)
    book = ui.services.book
    try:
        if action == "remove":
            for contact_id in ids:
                await book.remove_member(session.account_id, group_id, contact_id)
            detail = f"{len(ids)} contact(s) removed from the group"
        else:
            await book.add_members(session.account_id, group_id, ids)
            detail = f"{len(ids)} contact(s) added to the group"
    except RequestError as exc:
        return see_other(request, "/contacts", group=group_id, error=str(exc))
    return see_other(request, "/contacts", group=group_id, notice="members", detail=detail)


# --- groups -----------------------------------------------------------------------------------


@router.get("/groups")
async def groups_page(
    request: Request,
    ui: ConsoleDep,
    session: SignedIn,
    name: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    total, rows = await ui.services.book.groups(
        session.account_id, limit=PAGE, offset=(page - 1) * PAGE
    )
    wanted = name.strip().casefold()
    if wanted:  # the page's groups: an account has few, and the service has no name filter
        rows = [g for g in rows if wanted in g["name"].casefold()]
    return ui.page(
        request,
        "groups.html",
        {
            "nav": "groups",
            "rows": rows,
            "pager": Pager(page=page, size=PAGE, total=total),
            "filters": {"name": name},
            **_notice(request),
        },
        session=session,
    )


@router.post("/groups")
async def add_group(request: Request, ui: ConsoleDep, session: SignedIn, form: Form) -> Response:
    try:
        group = _checked(GroupIn, {"name": text(form, "name")})
        assert isinstance(group, GroupIn)
        row = await ui.services.book.create_group(session.account_id, group.name)
    except RequestError as exc:
        return see_other(request, "/groups", error=str(exc))
    return see_other(request, "/groups", notice="added", detail=f"group {row['name']!r} added")


@router.post("/groups/{group_id:int}/delete")
async def delete_group(
    request: Request, ui: ConsoleDep, session: SignedIn, form: Form, group_id: Id
) -> Response:
    try:
        await ui.services.book.delete_group(session.account_id, group_id)
    except RequestError as exc:
        raise NotFound(str(exc)) from None
    return see_other(
        request, "/groups", notice="removed", detail="group removed; its contacts stay"
    )


# --- blacklist --------------------------------------------------------------------------------


@router.get("/blacklist")
async def blacklist_page(
    request: Request,
    ui: ConsoleDep,
    session: SignedIn,
    phone: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    book = ui.services.book
    found: dict[str, Any] | None = None
    if phone.strip():
        try:
            e164, listed = await book.is_blacklisted(session.account_id, phone.strip())
            found = {"phone": e164, "listed": listed}
        except RequestError as exc:
            found = {"phone": phone.strip(), "error": str(exc)}
    total, rows = await book.blacklist(session.account_id, limit=PAGE, offset=(page - 1) * PAGE)
    return ui.page(
        request,
        "blacklist.html",
        {
            "nav": "blacklist",
            "rows": rows,
            "found": found,
            "pager": Pager(page=page, size=PAGE, total=total),
            "filters": {"phone": phone},
            **_notice(request),
        },
        session=session,
    )


@router.post("/blacklist")
async def add_to_blacklist(
    request: Request, ui: ConsoleDep, session: SignedIn, form: Form
) -> Response:
    """Numbers typed or pasted, one per line (or separated by commas); all or none."""
    numbers = [n.strip() for n in _SPLIT.split(text(form, "phones")) if n.strip()]
    file = form.get("file")
    if isinstance(file, UploadFile) and file.filename:
        raw = await file.read(1024 * 1024 + 1)
        if len(raw) > 1024 * 1024:
            return see_other(request, "/blacklist", error="a numbers file holds at most 1 MB")
        numbers += [n.strip() for n in _SPLIT.split(raw.decode("utf-8", "replace")) if n.strip()]
    if not numbers:
        return see_other(request, "/blacklist", error="type or paste at least one number")
    try:
        body = _checked(BlacklistIn, {"phones": numbers})
        assert isinstance(body, BlacklistIn)
        added = await ui.services.book.add_to_blacklist(session.account_id, body.phones)
    except RequestError as exc:
        return see_other(request, "/blacklist", error=str(exc))
    return see_other(
        request, "/blacklist", notice="added", detail=f"{len(added)} number(s) on the blacklist"
    )


@router.post("/blacklist/remove")
async def remove_from_blacklist(
    request: Request, ui: ConsoleDep, session: SignedIn, form: Form
) -> Response:
    phone = text(form, "phone")
    try:
        await ui.services.book.remove_from_blacklist(session.account_id, phone)
    except RequestError as exc:
        return see_other(request, "/blacklist", error=str(exc))
    return see_other(
        request, "/blacklist", notice="removed", detail=f"{phone} may be sent to again"
    )


# --- senders ----------------------------------------------------------------------------------


@router.get("/senders")
async def senders_page(
    request: Request,
    ui: ConsoleDep,
    session: SignedIn,
    q: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    rows = await ui.services.book.senders(session.account_id)
    wanted = q.strip().casefold()
    if wanted:  # an account's senders are few: the service lists them all
        rows = [s for s in rows if wanted in s["address"].casefold()]
    return ui.page(
        request,
        "senders.html",
        {"nav": "senders", "rows": rows, "filters": {"q": q}, **_notice(request)},
        session=session,
    )


@router.post("/senders")
async def add_senders(request: Request, ui: ConsoleDep, session: SignedIn, form: Form) -> Response:
    """One sender, or several pasted one per line (each checked; those refused are named)."""
    addresses = [a.strip() for a in text(form, "address").splitlines() if a.strip()]
    if not addresses:
        return see_other(request, "/senders", error="type a sender id, short code or number")
    added, refused = [], []
    for address in addresses[:100]:
        try:
            sender = _checked(SenderIn, {"address": address})
            assert isinstance(sender, SenderIn)
            row = await ui.services.book.add_sender(session.account_id, sender.address)
            added.append(row["address"])
        except RequestError as exc:
            refused.append(str(exc))
    if refused:
        return see_other(
            request,
            "/senders",
            notice="added" if added else None,
            detail=f"added: {', '.join(added)}" if added else None,
            error="; ".join(refused),
        )
    return see_other(request, "/senders", notice="added", detail=f"added: {', '.join(added)}")
