"""An account's address book: senders, contacts, groups and the blacklist.

The rules: phones are stored as E.164 (a bad one is `invalid_numbers` with the reason), a
sender follows the sender rules (`invalid_sender` names the rule broken), names and phones
are unique per account (`name_conflict`, `phone_conflict`, `sender_conflict`), and every
lookup is by account: another account's contact is `contact_not_found`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from herald.campaigns.audience import normalise_numbers
from herald.config import Config
from herald.errors import ConflictError, RequestError, SenderError
from herald.numbers import Sender, check_number, parse_sender
from herald.store import contacts as store
from herald.store import senders as sender_store
from herald.store.db import Database


def sender_rules(config: Config) -> dict[str, int]:
    """parse_sender's short-code addressing: the first bind's, else the defaults (3/0)."""
    if config.binds:
        bind = config.binds[0]
        return {"short_code_ton": bind.short_code_ton, "short_code_npi": bind.short_code_npi}
    return {}


def parse_sender_or_refuse(address: str, config: Config) -> Sender:
    try:
        return parse_sender(address, **sender_rules(config))
    except SenderError as exc:
        raise RequestError("invalid_sender", str(exc), {"sender": address}) from None


def contact_not_found(ids: Sequence[int]) -> RequestError:
    listed = ", ".join(str(i) for i in ids)
    return RequestError(
        "contact_not_found", f"no contact with id {listed}", {"contact_ids": list(ids)}
    )


def group_not_found(ids: Sequence[int]) -> RequestError:
    listed = ", ".join(str(i) for i in ids)
    return RequestError("group_not_found", f"no group with id {listed}", {"group_ids": list(ids)})


class AddressBook:
    def __init__(self, db: Database, config: Config) -> None:
        self._db = db
        self._config = config
        self._region = config.campaigns.default_region

    def _phone(self, raw: str, field: str = "phone") -> str:
        return normalise_numbers([raw], default_region=self._region, field_name=field)[0]

    # --- senders ------------------------------------------------------------------------------

    async def senders(self, account_id: int) -> list[dict[str, Any]]:
        async with self._db.acquire() as conn:
            return [dict(r) for r in await sender_store.list_senders(conn, account_id)]

    async def add_sender(self, account_id: int, address: str) -> dict[str, Any]:
        sender = parse_sender_or_refuse(address, self._config)
        async with self._db.acquire() as conn:
            row = await sender_store.add_sender(
                conn, account_id, sender.address, sender.kind, sender.ton, sender.npi
            )
        if row is None:
            raise RequestError(
                "sender_conflict",
                f"sender {sender.address!r} is already yours",
                {"sender": sender.address},
            )
        return dict(row)

    async def set_inbound_callback(
        self, account_id: int, sender_id: int, url: str | None
    ) -> dict[str, Any]:
        """Where replies to this sender are POSTed (an `inbound` callback each); None: nowhere."""
        async with self._db.acquire() as conn:
            row = await sender_store.set_inbound_callback(conn, sender_id, account_id, url)
        if row is None:
            raise RequestError(
                "sender_not_found", f"no sender with id {sender_id}", {"sender_id": sender_id}
            )
        return dict(row)

    # --- contacts -----------------------------------------------------------------------------

    async def create_contact(
        self, account_id: int, phone: str, name: str | None, labels: Mapping[str, str]
    ) -> dict[str, Any]:
        e164 = self._phone(phone)
        async with self._db.acquire() as conn:
            row = await store.insert_contact(conn, account_id, e164, name, labels)
        if row is None:
            raise _phone_conflict(e164)
        return dict(row)

    async def contact(self, account_id: int, contact_id: int) -> dict[str, Any]:
        async with self._db.acquire() as conn:
            row = await store.get_contact(conn, contact_id, account_id)
        if row is None:
            raise contact_not_found([contact_id])
        return dict(row)

    async def update_contact(
        self, account_id: int, contact_id: int, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        async with self._db.acquire() as conn, conn.transaction():
            row = await store.get_contact(conn, contact_id, account_id)
            if row is None:
                raise contact_not_found([contact_id])
            phone = self._phone(changes["phone"]) if "phone" in changes else row["phone"]
            name = changes["name"] if "name" in changes else row["name"]
            labels = changes["labels"] if "labels" in changes else row["labels"]
            try:
                updated = await store.update_contact(
                    conn, contact_id, account_id, phone, name, labels or {}
                )
            except ConflictError:
                raise _phone_conflict(phone) from None
        assert updated is not None  # the row is ours and exists in this transaction
        return dict(updated)

    async def delete_contact(self, account_id: int, contact_id: int) -> None:
        async with self._db.acquire() as conn:
            if not await store.delete_contact(conn, contact_id, account_id):
                raise contact_not_found([contact_id])

    async def contacts(
        self,
        account_id: int,
        *,
        phone_prefix: str | None,
        name_contains: str | None,
        group_id: int | None,
        limit: int,
        offset: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        async with self._db.acquire() as conn:
            if group_id is not None and not await store.get_group(conn, group_id, account_id):
                raise group_not_found([group_id])
            total, rows = await store.list_contacts(
                conn,
                account_id,
                phone_prefix=phone_prefix,
                name_contains=name_contains,
                group_id=group_id,
                limit=limit,
                offset=offset,
            )
        return total, [dict(r) for r in rows]

    async def import_contacts(
        self, account_id: int, contacts: Sequence[Mapping[str, Any]], group_id: int | None
    ) -> dict[str, Any]:
        """Upsert contacts by phone; bad rows are reported by index and the good ones kept.
        With `group_id` the imported contacts also join that group."""
        rows: dict[str, tuple[str, str | None, Mapping[str, str]]] = {}
        errors = []
        for index, c in enumerate(contacts):
            phone, reason = check_number(c["phone"], default_region=self._region)
            if phone is None:
                errors.append({"index": index, "phone": c["phone"], "reason": reason})
                continue
            rows[phone] = (phone, c.get("name"), c.get("labels") or {})  # the last one wins
        async with self._db.acquire() as conn, conn.transaction():
            if group_id is not None and not await store.get_group(conn, group_id, account_id):
                raise group_not_found([group_id])
            stored = await store.import_contacts(conn, account_id, list(rows.values()))
            if group_id is not None:
                await store.add_group_members(conn, group_id, [r["id"] for r in stored])
        created = sum(1 for r in stored if r["inserted"])
        return {
            "created": created,
            "updated": len(stored) - created,
            "duplicates": len(contacts) - len(errors) - len(stored),
            "errors": errors,
            "contact_ids": [r["id"] for r in stored],
        }

    # --- groups -------------------------------------------------------------------------------

    async def create_group(self, account_id: int, name: str) -> dict[str, Any]:
        async with self._db.acquire() as conn:
            row = await store.insert_group(conn, account_id, name)
        if row is None:
            raise _name_conflict(name, "group")
        return dict(row)

    async def group(self, account_id: int, group_id: int) -> dict[str, Any]:
        async with self._db.acquire() as conn:
            row = await store.get_group(conn, group_id, account_id)
        if row is None:
            raise group_not_found([group_id])
        return dict(row)

    async def groups(
        self, account_id: int, *, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        async with self._db.acquire() as conn:
            total, rows = await store.list_groups(conn, account_id, limit=limit, offset=offset)
        return total, [dict(r) for r in rows]

    async def rename_group(self, account_id: int, group_id: int, name: str) -> dict[str, Any]:
        async with self._db.acquire() as conn:
            try:
                row = await store.rename_group(conn, group_id, account_id, name)
            except ConflictError:
                raise _name_conflict(name, "group") from None
        if row is None:
            raise group_not_found([group_id])
        return dict(row)

    async def delete_group(self, account_id: int, group_id: int) -> None:
        async with self._db.acquire() as conn:
            if not await store.delete_group(conn, group_id, account_id):
                raise group_not_found([group_id])

    async def add_members(
        self, account_id: int, group_id: int, contact_ids: Sequence[int]
    ) -> dict[str, Any]:
        async with self._db.acquire() as conn, conn.transaction():
            if await store.get_group(conn, group_id, account_id) is None:
                raise group_not_found([group_id])
            found = await store.account_contact_ids(conn, account_id, contact_ids)
            missing = sorted(set(contact_ids) - found)
            if missing:
                raise contact_not_found(missing)
            await store.add_group_members(conn, group_id, sorted(found))
            row = await store.get_group(conn, group_id, account_id)
        if row is None:  # deleted by another request meanwhile
            raise group_not_found([group_id])
        return dict(row)

    async def remove_member(self, account_id: int, group_id: int, contact_id: int) -> None:
        async with self._db.acquire() as conn, conn.transaction():
            if await store.get_group(conn, group_id, account_id) is None:
                raise group_not_found([group_id])
            if not await store.remove_group_member(conn, group_id, contact_id):
                raise RequestError(
                    "contact_not_found",
                    f"contact {contact_id} is not in group {group_id}",
                    {"contact_ids": [contact_id], "group_id": group_id},
                )

    # --- blacklist ----------------------------------------------------------------------------

    async def blacklist(
        self, account_id: int, *, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        async with self._db.acquire() as conn:
            total, rows = await store.list_blacklist(conn, account_id, limit=limit, offset=offset)
        return total, [dict(r) for r in rows]

    async def add_to_blacklist(self, account_id: int, phones: Sequence[str]) -> list[str]:
        """All or nothing: one invalid number refuses the request (invalid_numbers)."""
        numbers = normalise_numbers(phones, default_region=self._region, field_name="phones")
        async with self._db.acquire() as conn:
            await store.add_to_blacklist(conn, account_id, numbers, "api")
        return numbers

    async def is_blacklisted(self, account_id: int, phone: str) -> tuple[str, bool]:
        """The number as E.164, and whether it is on the account's blacklist."""
        e164 = self._phone(phone)
        async with self._db.acquire() as conn:
            found = await store.blacklisted_among(conn, account_id, [e164])
        return e164, e164 in found

    async def remove_from_blacklist(self, account_id: int, phone: str) -> None:
        e164 = self._phone(phone)
        async with self._db.acquire() as conn:
            if not await store.remove_from_blacklist(conn, account_id, e164):
                raise RequestError(
                    "number_not_blacklisted", f"{e164} is not blacklisted", {"phone": e164}
                )


def _phone_conflict(phone: str) -> RequestError:
    return RequestError(
        "phone_conflict", f"a contact with phone {phone} already exists", {"phone": phone}
    )


def _name_conflict(name: str, what: str) -> RequestError:
    return RequestError("name_conflict", f"a {what} named {name!r} already exists", {"name": name})
