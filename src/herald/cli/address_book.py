"""`herald sender|contact|group|blacklist ...` and `herald balance`: an account's address book
and credit through a running daemon's HTTP API.

Each command is one API request (herald.cli.api: where the daemon is, the key, `--json`, how
errors are shown): tables or a short line for a person, the API's answer under `--json`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

import click

from herald.cli.api import api_command, echo_json, json_option, page_options

if TYPE_CHECKING:
    from herald.cli.client import ApiClient

_contact_id = click.argument("contact_id", metavar="CONTACT_ID", type=click.IntRange(min=1))
_group_id = click.argument("group_id", metavar="GROUP_ID", type=click.IntRange(min=1))


def _labels(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict:
    labels = {}
    for value in values:
        label, sep, text = value.partition("=")
        if not sep or not label.strip():
            raise click.BadParameter(f"{value!r} is not LABEL=VALUE")
        labels[label.strip()] = text
    return labels


def _show(data: Any, as_json: bool, table: Any = None, line: str | None = None) -> None:
    """The API's answer under --json; else a rich table or a line."""
    if as_json:
        echo_json(data)
        return
    if line is not None:
        click.echo(line)
    if table is not None:
        from herald.cli.output import stdout

        stdout().print(table)


def _numbers(numbers: tuple[str, ...], file: TextIO | None) -> list[str]:
    found = list(numbers)
    if file is not None:
        found += [s for line in file if (s := line.strip()) and not s.startswith("#")]
    return found


# --- senders ------------------------------------------------------------------------------------


@click.group()
def sender() -> None:
    """The sender ids (alphanumeric, short codes, numbers) the account sends from."""


@sender.command("list")
@json_option
@api_command
def sender_list(client: ApiClient, *, as_json: bool) -> None:
    """The account's senders."""
    from herald.cli.output import rows_table

    found = client.get("/senders")
    _show(found, as_json, rows_table(found, ("id", "address", "kind", "ton", "npi", "created_at")))


@sender.command("add")
@click.argument("address")
@json_option
@api_command
def sender_add(client: ApiClient, *, address: str, as_json: bool) -> None:
    """Add ADDRESS: up to 11 GSM characters, a short code, or a number in international form
    (the sender rules name what is wrong)."""
    added = client.post("/senders", {"address": address})
    _show(added, as_json, line=f"sender {added['address']!r} added ({added['kind']})")


# --- contacts -----------------------------------------------------------------------------------


@click.group()
def contact() -> None:
    """Contacts: a phone (stored in E.164), a name and labels (the template's fields)."""


_contact_columns = ("id", "phone", "name", "labels", "updated_at")


@contact.command("list")
@click.option("--phone-prefix", metavar="DIGITS", help="Only phones starting with these.")
@click.option("--name-contains", metavar="TEXT", help="Only names containing TEXT.")
@click.option("--group", "group_id", type=click.IntRange(min=1), help="Only this group's.")
@page_options
@json_option
@api_command
def contact_list(
    client: ApiClient,
    *,
    phone_prefix: str | None,
    name_contains: str | None,
    group_id: int | None,
    page: int,
    page_size: int,
    as_json: bool,
) -> None:
    """The account's contacts, in id order."""
    from herald.cli.output import page_table

    params: dict[str, str | int] = {"page": page, "page_size": page_size}
    for key, value in (
        ("phone_prefix", phone_prefix),
        ("name_contains", name_contains),
        ("group_id", group_id),
    ):
        if value is not None:
            params[key] = value
    found = client.get("/contacts", params=params)
    _show(found, as_json, page_table(found, _contact_columns, "contact(s)"))


@contact.command("add")
@click.argument("phone")
@click.option("--name", help="The contact's name (for %Name%).")
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="LABEL=VALUE",
    callback=_labels,
    help="A field for [~label] (repeatable).",
)
@json_option
@api_command
def contact_add(
    client: ApiClient, *, phone: str, name: str | None, labels: dict, as_json: bool
) -> None:
    """Add a contact with PHONE."""
    added = client.post("/contacts", {"phone": phone, "name": name, "labels": labels})
    _show(added, as_json, line=f"contact {added['id']} added: {added['phone']}")


@contact.command("show")
@_contact_id
@json_option
@api_command
def contact_show(client: ApiClient, *, contact_id: int, as_json: bool) -> None:
    """One contact."""
    from herald.cli.output import rows_table

    found = client.get(f"/contacts/{contact_id}")
    _show(found, as_json, rows_table([found], _contact_columns))


@contact.command("edit")
@_contact_id
@click.option("--phone", help="A new phone.")
@click.option("--name", help="A new name.")
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="LABEL=VALUE",
    callback=_labels,
    help="Replace the labels with these (repeatable).",
)
@json_option
@api_command
def contact_edit(
    client: ApiClient,
    *,
    contact_id: int,
    phone: str | None,
    name: str | None,
    labels: dict,
    as_json: bool,
) -> None:
    """Change what is given of one contact."""
    body: dict[str, Any] = {k: v for k, v in (("phone", phone), ("name", name)) if v is not None}
    if labels:
        body["labels"] = labels
    if not body:
        raise click.UsageError("nothing to change: give --phone, --name or --label")
    edited = client.patch(f"/contacts/{contact_id}", body)
    _show(edited, as_json, line=f"contact {contact_id} changed: {edited['phone']}")


@contact.command("delete")
@_contact_id
@json_option
@api_command
def contact_delete(client: ApiClient, *, contact_id: int, as_json: bool) -> None:
    """Delete one contact (it leaves its groups and the campaigns that named it)."""
    client.delete(f"/contacts/{contact_id}")
    _show({"deleted": contact_id}, as_json, line=f"contact {contact_id} deleted")


@contact.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option(
    "--group", "group_id", type=click.IntRange(min=1), help="Also add them to this group."
)
@json_option
@api_command
def contact_import(client: ApiClient, *, file: TextIO, group_id: int | None, as_json: bool) -> None:
    """Create or update contacts by phone from FILE (- for stdin): a CSV with a header row
    naming `phone` and optionally `name`; every other column becomes a label."""
    import csv

    rows = []
    for record in csv.DictReader(file):
        fields = {k.strip(): (v or "").strip() for k, v in record.items() if k}
        by_case = {k.lower(): k for k in fields}  # `Phone` and `NAME` are found too
        phone = fields.pop(by_case.get("phone", "phone"), "")
        name = fields.pop(by_case.get("name", "name"), "") or None
        labels = {k: v for k, v in fields.items() if v}  # empty: the fallback applies
        rows.append({"phone": phone, "name": name, "labels": labels})
    if not rows:
        raise click.UsageError("the file has no rows under its header")
    body: dict[str, Any] = {"contacts": rows}
    if group_id is not None:
        body["group_id"] = group_id
    done = client.post("/contacts/import", body)
    if as_json:
        echo_json(done)
        return
    click.echo(
        f"{done['created']} contact(s) created, {done['updated']} updated, "
        f"{done['duplicates']} duplicate row(s), {len(done['errors'])} refused"
    )
    for error in done["errors"][:10]:
        click.echo(f"  row {error['index'] + 2}: {error['phone']!r}: {error['reason']}")


# --- groups -------------------------------------------------------------------------------------


@click.group()
def group() -> None:
    """Groups of contacts; a campaign naming a group sends to its members at each run."""


_group_columns = ("id", "name", "member_count", "created_at")


@group.command("list")
@page_options
@json_option
@api_command
def group_list(client: ApiClient, *, page: int, page_size: int, as_json: bool) -> None:
    """The account's groups."""
    from herald.cli.output import page_table

    found = client.get("/groups", params={"page": page, "page_size": page_size})
    _show(found, as_json, page_table(found, _group_columns, "group(s)"))


@group.command("create")
@click.argument("name")
@json_option
@api_command
def group_create(client: ApiClient, *, name: str, as_json: bool) -> None:
    """A new group called NAME."""
    made = client.post("/groups", {"name": name})
    _show(made, as_json, line=f"group {made['id']} {made['name']!r} created")


@group.command("show")
@_group_id
@page_options
@json_option
@api_command
def group_show(
    client: ApiClient, *, group_id: int, page: int, page_size: int, as_json: bool
) -> None:
    """One group and its members."""
    from herald.cli.output import page_table, rows_table

    found = client.get(f"/groups/{group_id}")
    members = client.get(
        f"/groups/{group_id}/contacts", params={"page": page, "page_size": page_size}
    )
    if as_json:
        echo_json({**found, "members": members})
        return
    _show(found, False, rows_table([found], _group_columns))
    _show(members, False, page_table(members, _contact_columns, "member(s)"))


@group.command("rename")
@_group_id
@click.argument("name")
@json_option
@api_command
def group_rename(client: ApiClient, *, group_id: int, name: str, as_json: bool) -> None:
    """Rename a group."""
    renamed = client.patch(f"/groups/{group_id}", {"name": name})
    _show(renamed, as_json, line=f"group {group_id} is now {renamed['name']!r}")


@group.command("delete")
@_group_id
@json_option
@api_command
def group_delete(client: ApiClient, *, group_id: int, as_json: bool) -> None:
    """Delete a group (its contacts stay)."""
    client.delete(f"/groups/{group_id}")
    _show({"deleted": group_id}, as_json, line=f"group {group_id} deleted")


@group.command("add")
@_group_id
@click.argument("contact_ids", metavar="CONTACT_ID...", nargs=-1, required=True, type=int)
@json_option
@api_command
def group_add(
    client: ApiClient, *, group_id: int, contact_ids: tuple[int, ...], as_json: bool
) -> None:
    """Add contacts to a group (all or none: an unknown id refuses them all)."""
    found = client.post(f"/groups/{group_id}/contacts", {"contact_ids": list(contact_ids)})
    _show(found, as_json, line=f"group {group_id} has {found['member_count']} member(s)")


@group.command("remove")
@_group_id
@_contact_id
@json_option
@api_command
def group_remove(client: ApiClient, *, group_id: int, contact_id: int, as_json: bool) -> None:
    """Take a contact out of a group."""
    client.delete(f"/groups/{group_id}/contacts/{contact_id}")
    done = {"group_id": group_id, "removed": contact_id}
    _show(done, as_json, line=f"contact {contact_id} left group {group_id}")


# --- blacklist ----------------------------------------------------------------------------------


@click.group()
def blacklist() -> None:
    """Numbers the account never sends to (added here, or by a STOP reply)."""


@blacklist.command("list")
@page_options
@json_option
@api_command
def blacklist_list(client: ApiClient, *, page: int, page_size: int, as_json: bool) -> None:
    """The blacklisted numbers, with where each came from."""
    from herald.cli.output import page_table

    found = client.get("/blacklist", params={"page": page, "page_size": page_size})
    _show(found, as_json, page_table(found, ("phone", "source", "created_at"), "number(s)"))


@blacklist.command("add")
@click.argument("numbers", metavar="NUMBER...", nargs=-1)
@click.option(
    "--file",
    type=click.File("r", encoding="utf-8-sig"),
    help="Numbers, one per line (- for stdin; blank lines and # comments skipped).",
)
@json_option
@api_command
def blacklist_add(
    client: ApiClient, *, numbers: tuple[str, ...], file: TextIO | None, as_json: bool
) -> None:
    """Blacklist numbers (all or none: an invalid one refuses the request, naming it)."""
    phones = _numbers(numbers, file)
    if not phones:
        raise click.UsageError("no number given: NUMBER... or --file")
    added = client.post("/blacklist", {"phones": phones})
    _show(added, as_json, line=f"{len(added['added'])} number(s) blacklisted")


@blacklist.command("remove")
@click.argument("number")
@json_option
@api_command
def blacklist_remove(client: ApiClient, *, number: str, as_json: bool) -> None:
    """Take NUMBER off the blacklist."""
    from urllib.parse import quote

    client.delete(f"/blacklist/{quote(number, safe='')}")
    _show({"removed": number}, as_json, line=f"{number} is no longer blacklisted")


# --- balance ------------------------------------------------------------------------------------


@click.command()
@json_option
@api_command
def balance(client: ApiClient, *, as_json: bool) -> None:
    """The account's credit in segments, what its runs used, and its latest runs."""
    from herald.cli.output import rows_table

    found = client.get("/balance")
    line = (
        f"credit {found['credit']} segments; {found['credit_used_total']} used by every run so far"
    )
    columns = ("campaign_id", "campaign_name", "number", "status", "credit_used", "started_at")
    _show(found, as_json, rows_table(found["recent_batches"], columns, "latest runs"), line)
