"""A new campaign: the form, its live preview and estimate (JSON for the page's script),
and creating it (sent now or scheduled; with a recipient file, created held, filled and then
run, and deleted again if any step is refused: a refused form leaves nothing behind)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData, UploadFile

from herald.api.routes.campaigns import check_callback_urls
from herald.api.schemas import CampaignIn, QuietWindow, check_quiet_hours
from herald.campaigns.accounts import credit_left
from herald.campaigns.audience import check_recipients
from herald.campaigns.links import links_base_url
from herald.campaigns.preview import preview_message
from herald.errors import RequestError
from herald.ui.campaign_form import CampaignForm, hold, pairs
from herald.ui.console import (
    REFUSALS,
    Console,
    ConsoleDep,
    Form,
    SignedIn,
    check_csrf_header,
    checked_form,
    refusal,
    see_other,
)
from herald.ui.sessions import Session
from herald.ui.uploads import Upload, chunks, close, open_upload, summarize_upload

router = APIRouter()

CREATE_PATH = "/campaigns/new"
ESTIMATE_PATH = "/campaigns/new/estimate"
PREVIEW_PATH = "/campaigns/new/preview"
CONTACT_CHOICES = 200  # contacts listed in the form's picker (the contacts page picks more)
GROUP_CHOICES = 500


def _upload(form: FormData, values: dict[str, str]) -> Upload | None:
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return None
    if file.size == 0:
        return None
    return Upload(
        file=file.file,
        filename=file.filename,
        content_type=file.content_type,
        phone_column=values["phone_column"] or "phone",
        name_column=values["name_column"],
        label_columns=values["label_columns"] or "*",
        sheet=values["sheet"],
    )


async def _choices(ui: Console, session: Session, chosen: list[int]) -> dict[str, Any]:
    book = ui.services.book
    senders = await book.senders(session.account_id)
    _, groups = await book.groups(session.account_id, limit=GROUP_CHOICES, offset=0)
    total, contacts = await book.contacts(
        session.account_id,
        phone_prefix=None,
        name_contains=None,
        group_id=None,
        limit=CONTACT_CHOICES,
        offset=0,
    )
    listed = {c["id"] for c in contacts}
    for contact_id in chosen:  # picked on the contacts page, maybe beyond the first page
        if contact_id not in listed:
            try:
                contacts.append(await book.contact(session.account_id, contact_id))
            except RequestError:
                continue
    return {
        "senders": senders,
        "groups": groups,
        "contacts": contacts,
        "more_contacts": total > len(listed),
    }


def _quiet_default(ui: Console) -> str:
    return ", ".join(f"{a}-{b}" for a, b in ui.config.campaigns.quiet_hours)


async def _form_page(
    request: Request,
    ui: Console,
    session: Session,
    form: CampaignForm,
    *,
    error: str | None = None,
    problems: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> Response:
    return ui.page(
        request,
        "campaign_new.html",
        {
            "nav": "new",
            "f": form,
            "error": error,
            "problems": problems or [],
            "credit": await credit_left(ui.services.ctx.db, session.account_id),
            **await _choices(ui, session, form.contacts),
        },
        session=session,
        status=status,
    )


@router.get(CREATE_PATH)
async def new_campaign_page(
    request: Request,
    ui: ConsoleDep,
    session: SignedIn,
    contacts: Annotated[str, Query(max_length=20_000)] = "",
    group: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    chosen = [int(c) for c in contacts.split(",") if c.strip().isdigit()][:1000]
    form = CampaignForm.blank(quiet_hours=_quiet_default(ui), contacts=chosen)
    if group is not None:
        form.groups = [group]
    return await _form_page(request, ui, session, form)


@router.post(CREATE_PATH)
async def create_campaign(
    request: Request, ui: ConsoleDep, session: SignedIn, raw: Form
) -> Response:
    form = CampaignForm.read(raw)
    now = ui.clock()
    spec = form.spec(now)
    if spec is None:
        return await _form_page(
            request, ui, session, form, error="Some fields need a change.", status=400
        )
    upload = _upload(raw, form.values)
    account = session.account_id
    campaigns = ui.services.campaigns
    try:
        _check_rules(ui, spec)
        send_now = spec.get("scheduled_at") is None
        if upload is not None and send_now:
            spec = {**spec, "scheduled_at": hold(now)}
        created = await campaigns.create(account, spec)
    except REFUSALS as exc:
        refused = refusal(exc)
        assert refused is not None
        return await _refused(request, ui, session, form, refused)
    campaign_id = created["id"]
    queued = created["run"]["count"] if created.get("run") else None
    bad = None
    if upload is not None:
        try:
            report = await _store_file(ui, account, campaign_id, upload)
            bad = report["bad"]
            if send_now:
                run = await ui.services.lifecycle.run(account, campaign_id)
                queued = run.count
        except BaseException as exc:  # a refused file or run: the campaign must not half-exist
            await campaigns.delete(account, campaign_id)
            refused = refusal(exc)
            if refused is None:
                raise
            return await _refused(request, ui, session, form, refused)
    return see_other(
        request,
        f"/campaigns/{campaign_id}",
        notice="created",
        detail=_created_detail(queued, bad),
    )


def _check_rules(ui: Console, spec: dict[str, Any]) -> None:
    """The API's rules outside its model: quiet windows, callback destinations."""
    windows = spec.get("quiet_hours")
    if windows:
        check_quiet_hours([QuietWindow.model_validate(w) for w in windows])
    model = CampaignIn.model_validate(
        {
            k: v
            for k, v in spec.items()
            if k in ("sender", "message", "callback", "campaign_callback")
        }
    )
    check_callback_urls(model, ui.services)


def _created_detail(queued: int | None, bad: int | None) -> str | None:
    said = []
    if queued is not None:
        said.append(f"{queued} message(s) queued")
    if bad:
        said.append(f"{bad} bad file row(s) left out")
    return "; ".join(said) or None


async def _store_file(ui: Console, account: int, campaign_id: int, upload: Upload) -> dict:
    campaigns = ui.services.campaigns
    opened = await open_upload(
        upload,
        region=ui.config.campaigns.default_region,
        mobiles_only=await campaigns.mobiles_only(account, campaign_id),
    )
    try:
        report: dict[str, Any] = await campaigns.add_file(
            account, campaign_id, chunks(opened), replace=False
        )
    finally:
        close(opened)
    return report


async def _refused(
    request: Request, ui: Console, session: Session, form: CampaignForm, exc: RequestError
) -> Response:
    details = exc.details if isinstance(exc.details, dict) else {}
    problems: list[dict[str, Any]] = []
    for number in details.get("invalid_numbers", []) or []:
        problems.append(
            {
                "where": f"{number['source']} #{number['index'] + 1}",
                "value": number["phone"],
                "why": number["reason"],
            }
        )
    for row in details.get("bad_rows", []) or []:
        problems.append(
            {
                "where": f"file row {row['row']}",
                "value": row.get("phone_raw", ""),
                "why": row.get("detail") or row.get("reason"),
            }
        )
    field = details.get("field")
    if isinstance(field, str):
        form.errors.setdefault(field, str(exc))
    if exc.code in ("sender_not_allowed", "invalid_sender"):
        form.errors.setdefault("sender", str(exc))
    message = f"{exc}"
    if problems or exc.code == "invalid_file":
        message += " (choose the file again to send it)"
    return await _form_page(
        request, ui, session, form, error=message, problems=problems, status=400
    )


@router.post(PREVIEW_PATH)
async def preview(request: Request, ui: ConsoleDep, session: SignedIn) -> JSONResponse:
    """The message as one sample recipient gets it: the live preview of the form."""
    check_csrf_header(request, ui, session)
    raw = await request.form(max_files=0, max_fields=50)
    form = CampaignForm.read(raw)
    fallback, _ = pairs(form.values["fallback"])
    name, labels = form.sample()
    try:
        shown = preview_message(
            form.values["message"],
            fallback_values=fallback,
            name=name,
            labels=labels,
            flash=form.flags["flash"],
            transcode=form.flags["transcode"],
            links_base_url=_links_base(ui),
        )
    except RequestError as exc:
        return JSONResponse({"error": {"code": exc.code, "message": str(exc)}}, status_code=400)
    return JSONResponse(shown)


def _links_base(ui: Any) -> str:
    """Where %Link% and %OptOutLink% lead, as the API's preview shows them: sample links as
    long as the ones recipients get, so the segments counted are theirs."""
    ctx = ui.services.ctx
    return str(ctx.links_base_url or links_base_url(ctx.config))


@router.post(ESTIMATE_PATH)
async def estimate(request: Request, ui: ConsoleDep, session: SignedIn) -> JSONResponse:
    """Before confirming: how many recipients, about how many segments, and the credit left."""
    raw = await checked_form(request, ui, session)
    form = CampaignForm.read(raw)
    account = session.account_id
    region = ui.config.campaigns.default_region
    out: dict[str, Any] = {"credit_left": await credit_left(ui.services.ctx.db, account)}
    try:
        intake = check_recipients(
            form.numbers(),
            [],
            default_region=region,
            max_recipients=ui.config.api.max_recipients_per_request,
            mobiles_only=form.flags["mobiles_only"],
        )
    except RequestError as exc:
        return JSONResponse({"error": {"code": exc.code, "message": str(exc)}}, status_code=400)
    members = 0
    for group_id in form.groups:
        try:
            members += int((await ui.services.book.group(account, group_id))["member_count"])
        except RequestError:
            continue
    out["numbers"] = {
        "valid": len(intake.valid),
        "invalid": intake.invalid[:20],
        "invalid_count": len(intake.invalid),
        "duplicates": intake.duplicates,
    }
    out["contacts"] = len(form.contacts)
    out["group_members"] = members
    upload = _upload(raw, form.values)
    out["file"] = None
    if upload is not None:
        try:
            out["file"] = await summarize_upload(
                upload, region=region, mobiles_only=form.flags["mobiles_only"]
            )
        except RequestError as exc:
            out["file"] = {"error": str(exc), "details": exc.details}
    file_rows = int(out["file"]["good"]) if out["file"] and "good" in out["file"] else 0
    recipients = len(intake.valid) + len(form.contacts) + members + file_rows
    fallback, _ = pairs(form.values["fallback"])
    name, labels = form.sample()
    try:
        shown = preview_message(
            form.values["message"] or " ",
            fallback_values=fallback,
            name=name,
            labels=labels,
            flash=form.flags["flash"],
            transcode=form.flags["transcode"],
            links_base_url=_links_base(ui),
        )
        segments = int(shown["segments"])
    except RequestError as exc:
        out["message_error"] = str(exc)
        segments = 1
    out["recipients"] = recipients
    out["segments_per_message"] = segments
    out["credit_needed"] = recipients * segments
    credit = out["credit_left"] or 0
    out["enough"] = out["credit_needed"] <= credit
    return JSONResponse(out)
