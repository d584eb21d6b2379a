"""Message templates: parsed once per campaign, rendered once per recipient.

Syntax
    ``%Name%``     the recipient's name (any case: ``%NAME%``, ``%name%``).
    ``%Link%``     the recipient's tracked link (any case), given to ``render``.
    ``%OptOutLink%``  the recipient's opt-out link (any case), given to ``render``.
    ``%Label%``    any other ``%identifier%`` (ASCII letter or ``_``, then letters, digits, ``_``)
                   is a label: a custom field of the recipient. A field named like a link is
                   written ``[~link]``.
    ``[~label]``   a label whose name may hold spaces and other characters: everything up to the
                   next ``]``, surrounding spaces trimmed. It must not be empty and must not hold
                   ``[``, a line break or a control character.
    ``%%``         a literal ``%``.

    A ``%`` that does not open ``%identifier%`` is plain text, so "50% off at 20%" has no
    placeholder. Text that would read as a placeholder (``%OFF%``) is written ``%%OFF%``.
    ``[~`` always opens a label; there is no escape for a literal ``[~``.

Lookup
    Labels are matched without regard to case or surrounding spaces (``[~First Name]`` finds a
    "first name" column): the recipient's mapping is tried with the label as written, then its
    folded form, then by folding each key. Fallback keys are folded the same way, and a
    fallback for "name" also serves ``%Name%``.

    A value that is missing, empty or only whitespace counts as missing: the label's fallback
    is used (an empty fallback is allowed and inserts nothing), and with no fallback ``render``
    raises MissingLabelError, whose ``reason`` is ``missing_label:<label>``. Values are
    otherwise inserted exactly as given.

Characters
    A template, a fallback or a value must not hold lone surrogates or control characters
    (Unicode Cc) other than LF, CR and FF: nothing can encode them and a handset would show
    garbage. In a template or a fallback that is a TemplateError naming the character and its
    position (in the template, or in that fallback value); every other problem with the
    fallbacks (an empty label, two spellings of one label with different values) is a
    TemplateError at position 0. In a recipient's value it is InvalidLabelValueError
    (``reason`` ``invalid_label_value:<label>``), so the caller skips that recipient like one
    with a missing label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from herald.errors import InvalidLabelValueError, MissingLabelError, TemplateError

__all__ = ["Template", "label_key", "parse_template"]

# Cc other than LF, CR and FF, and every surrogate code point (in a str they are always lone).
_FORBIDDEN = "[\x00-\x09\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff]"
_FORBIDDEN_RE = re.compile(_FORBIDDEN)
_TOKEN_RE = re.compile(r"%(?:%|([A-Za-z_][A-Za-z0-9_]*)%)|\[~|" + _FORBIDDEN)
_LABEL_END_RE = re.compile(r"[\]\[\n\r]|" + _FORBIDDEN)
_CONTROL_NAMES = {0x00: "NUL", 0x09: "TAB", 0x0B: "VT", 0x1B: "ESC", 0x7F: "DEL"}
# What a slot is filled with: a label, the name, or one of the recipient's two links.
_LABEL, _NAME, _LINK, _OPT_OUT_LINK = range(4)
_SPECIAL = {"name": _NAME, "link": _LINK, "optoutlink": _OPT_OUT_LINK}


def label_key(label: str) -> str:
    """The form labels are compared in: surrounding spaces trimmed, case folded."""
    return label.strip().casefold()


def parse_template(source: str, fallbacks: Mapping[str, str] | None = None) -> Template:
    """Parse `source` once; raise TemplateError naming the first problem and its position."""
    return Template(source, fallbacks)


class Template:
    """A parsed template. ``render`` is the per-recipient hot path."""

    __slots__ = (
        "_format",
        "_slots",
        "fallbacks",
        "placeholders",
        "source",
        "uses_link",
        "uses_name",
        "uses_opt_out_link",
    )

    source: str
    placeholders: tuple[str, ...]  # labels used, as first written, one per folded form
    uses_name: bool
    uses_link: bool  # %Link%
    uses_opt_out_link: bool  # %OptOutLink%
    fallbacks: dict[str, str]  # folded label -> fallback value

    def __init__(self, source: str, fallbacks: Mapping[str, str] | None = None) -> None:
        self.source = source
        self.fallbacks = _fold_fallbacks(fallbacks or {})
        if not source:
            raise TemplateError("template is empty", 0)
        # Precompiled as one %-format string plus one slot per placeholder occurrence:
        # (kind, label as written, folded label, fallback or None).
        pieces: list[str] = []
        slots: list[tuple[int, str, str, str | None]] = []
        labels: dict[str, str] = {}
        kinds: set[int] = set()
        pos = 0
        while (m := _TOKEN_RE.search(source, pos)) is not None:
            pieces.append(source[pos : m.start()].replace("%", "%%"))
            token = m.group()
            pos = m.end()
            if token == "%%":
                pieces.append("%%")
                continue
            if token == "[~":
                label, pos = _bracket_label(source, m.start())
                kind = _LABEL
            elif token[0] == "%":
                label = m.group(1)
                kind = _SPECIAL.get(label.casefold(), _LABEL)
            else:
                raise TemplateError(_describe(token), m.start())
            key = label_key(label)
            kinds.add(kind)
            if kind == _LABEL:
                labels.setdefault(key, label)
            slots.append((kind, label, key, self.fallbacks.get(key)))
            pieces.append("%s")
        pieces.append(source[pos:].replace("%", "%%"))
        fmt = "".join(pieces)
        self._format = fmt if slots else fmt % ()  # no slots: keep the finished text
        self._slots = tuple(slots)
        self.placeholders = tuple(labels.values())
        self.uses_name = _NAME in kinds
        self.uses_link = _LINK in kinds
        self.uses_opt_out_link = _OPT_OUT_LINK in kinds

    def render(
        self,
        name: str | None,
        labels: Mapping[str, str],
        link: str | None = None,
        opt_out_link: str | None = None,
    ) -> str:
        """The message for one recipient: `name` fills ``%Name%``, `labels` the labels, `link`
        and `opt_out_link` (the recipient's own URLs) ``%Link%`` and ``%OptOutLink%``.

        Raises MissingLabelError or InvalidLabelValueError (both with ``reason``) for a
        recipient that cannot be sent this template; ValueError when the template places a
        link that was not given (the caller checks for that before any recipient).
        """
        if not self._slots:
            return self._format
        values = []
        for kind, label, key, fallback in self._slots:
            if kind == _NAME:
                value = name
            elif kind != _LABEL:
                value = link if kind == _LINK else opt_out_link
                if value is None:
                    raise ValueError(f"the template places %{label}%: give its URL to render")
                values.append(value)
                continue
            else:
                value = labels.get(label)
                if value is None:
                    value = labels.get(key) if key != label else None
                    if value is None:
                        value = _folded_lookup(labels, key)
            if not value or value.isspace():
                if fallback is None:
                    raise MissingLabelError(label)
                value = fallback
            elif not value.isprintable():  # cheap test first: Cc and Cs are never printable
                bad = _FORBIDDEN_RE.search(value)
                if bad is not None:
                    where = f"{_describe(bad.group())} at position {bad.start()}"
                    raise InvalidLabelValueError(label, where)
            values.append(value)
        return self._format % tuple(values)

    def __repr__(self) -> str:
        return f"Template({self.source!r}, placeholders={self.placeholders!r})"


def _bracket_label(source: str, start: int) -> tuple[str, int]:
    """The label of the ``[~`` at `start`, and the position after its ``]``."""
    end = _LABEL_END_RE.search(source, start + 2)
    if end is None or end.group() in "[\n\r":
        raise TemplateError("'[~' is not closed by ']' on the same line", start)
    if end.group() != "]":
        raise TemplateError(_describe(end.group()), end.start())
    label = source[start + 2 : end.start()].strip()
    if not label:
        raise TemplateError("empty label in '[~]'", start)
    return label, end.end()


def _folded_lookup(labels: Mapping[str, str], key: str) -> str | None:
    for name, value in labels.items():
        if name.strip().casefold() == key:
            return value
    return None


def _fold_fallbacks(fallbacks: Mapping[str, str]) -> dict[str, str]:
    folded: dict[str, str] = {}
    spelled: dict[str, str] = {}
    for label, value in fallbacks.items():
        key = label_key(label)
        if not key:
            raise TemplateError(f"fallback given for an empty label {label!r}", 0)
        if key in folded and folded[key] != value:
            raise TemplateError(
                f"fallbacks for {spelled[key]!r} and {label!r} name the same label "
                "with different values",
                0,
            )
        bad = _FORBIDDEN_RE.search(value)
        if bad is not None:
            raise TemplateError(
                f"fallback for label {label!r} holds {_describe(bad.group())}", bad.start()
            )
        folded[key] = value
        spelled[key] = label
    return folded


def _describe(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return f"lone surrogate U+{code:04X}"
    name = _CONTROL_NAMES.get(code)
    return f"control character U+{code:04X}" + (f" ({name})" if name else "")
