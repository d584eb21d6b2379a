"""Page numbers for the console's lists (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pager:
    page: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_item(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.size + 1

    @property
    def last_item(self) -> int:
        return min(self.total, self.page * self.size)

    @property
    def previous(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def next(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None


TRAIL_MAX = 50  # pages "Previous" can walk back before it only offers the first page


@dataclass(frozen=True)
class Cursor:
    """Keyset paging for lists too long to count past (a campaign's messages): a page starts
    after a message id, and `trail` holds where the pages before it started (0: the first),
    so Previous needs no OFFSET walk either."""

    after: int | None
    trail: tuple[int, ...]
    size: int
    shown: int  # items on this page
    last_id: int | None  # the last item's id
    total: int | None  # counted on the first page only

    @classmethod
    def parse_trail(cls, text: str) -> tuple[int, ...]:
        """The trail from its query text; what is not a list of ids is dropped, not refused
        (it only steers the Previous link)."""
        ids = []
        for part in text.split(",")[-TRAIL_MAX:]:
            if part.isdigit() and len(part) <= 19:
                ids.append(int(part))
        return tuple(ids)

    @property
    def first(self) -> bool:
        return self.after is None

    @property
    def next_query(self) -> str | None:
        if self.shown < self.size or self.last_id is None:
            return None
        trail = (*self.trail, self.after or 0)[-TRAIL_MAX:]
        return f"after={self.last_id}&trail={','.join(map(str, trail))}"

    @property
    def previous_query(self) -> str | None:
        if self.first:
            return None
        if not self.trail or self.trail[-1] == 0:
            return ""  # the first page
        back = self.trail[:-1]
        return f"after={self.trail[-1]}" + (f"&trail={','.join(map(str, back))}" if back else "")
