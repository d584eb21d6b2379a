"""Message templates: syntax, lookup rules, fallbacks and every malformed case."""

from __future__ import annotations

import pytest

from herald.errors import (
    InvalidLabelValueError,
    InvalidTextError,
    MissingLabelError,
    TemplateError,
    TextError,
)
from herald.text.template import Template, label_key, parse_template


def render(source: str, name: str | None = None, fallbacks=None, **labels: str) -> str:
    return parse_template(source, fallbacks).render(name, labels)


# --- the two syntaxes -----------------------------------------------------------------------


def test_name_placeholder_in_any_case() -> None:
    for source in ("Hi %Name%!", "Hi %NAME%!", "Hi %name%!"):
        assert render(source, "Maria") == "Hi Maria!"


def test_percent_identifier_is_a_label() -> None:
    assert render("Code %Code% for %Name%", "Ann", Code="X1") == "Code X1 for Ann"
    assert render("%_ref%/%Ref2%", _ref="a", Ref2="b") == "a/b"


def test_bracket_label_may_hold_spaces_and_is_trimmed() -> None:
    labels = {"First Name": "Ann", "Order #": "42"}
    t = parse_template("Dear [~First Name], order [~  Order # ] shipped")
    assert t.render(None, labels) == "Dear Ann, order 42 shipped"


def test_both_syntaxes_together() -> None:
    t = parse_template("%Name%: [~city] %City% [~CITY]")
    assert t.render("Bo", {"city": "Oslo"}) == "Bo: Oslo Oslo Oslo"


def test_unicode_labels() -> None:
    assert render("Γεια [~Όνομα]!", **{"ΌΝΟΜΑ": "Μαρία"}) == "Γεια Μαρία!"
    assert render("[~straße]", **{"STRASSE": "Hauptstr."}) == "Hauptstr."  # full case folding


def test_placeholders_source_and_uses_name() -> None:
    t = parse_template("%Name% [~City] %code% [~city] [~ Code ] [~Zip]")
    assert t.source == "%Name% [~City] %code% [~city] [~ Code ] [~Zip]"
    assert t.placeholders == ("City", "code", "Zip")  # first spelling, one per label
    assert t.uses_name is True
    assert parse_template("[~Name] only").uses_name is False
    assert parse_template("[~Name] only").placeholders == ("Name",)
    assert parse_template("plain").placeholders == ()


def test_label_key() -> None:
    assert label_key("  First Name ") == "first name"
    assert label_key("STRASSE") == label_key("Straße")


# --- literal percent signs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("50% off at 20%", "50% off at 20%"),
        ("100%", "100%"),
        ("%", "%"),
        ("50%% off", "50% off"),
        ("%%", "%"),
        ("%%%", "%%"),
        ("%%Name%%", "%Name%"),  # the escape for text that looks like a placeholder
        ("%Name", "%Name"),
        ("% Name %", "% Name %"),
        ("%1abc%", "%1abc%"),  # identifiers do not start with a digit
        ("%first-name%", "%first-name%"),
        ("[ ~x]", "[ ~x]"),
        ("[x] ~] [", "[x] ~] ["),
    ],
)
def test_literal_text(source: str, expected: str) -> None:
    t = parse_template(source)
    assert t.placeholders == () and not t.uses_name
    assert t.render("Ann", {}) == expected


def test_percent_next_to_placeholders() -> None:
    assert render("%Name%%", "Ann") == "Ann%"
    assert render("%a%%b%", a="1", b="2") == "12"
    assert render("Save 20% today, %Name%! 100%% sure", "Ann") == "Save 20% today, Ann! 100% sure"


def test_values_are_inserted_as_given_and_never_expanded() -> None:
    tricky = "%s %% %Name% [~x] 100% {0}"
    assert render("<%Name%>", tricky) == f"<{tricky}>"
    assert render("<[~x]>", x=tricky) == f"<{tricky}>"
    assert render("[~x]", x="  padded  ") == "  padded  "


# --- lookup rules and fallbacks -------------------------------------------------------------


def test_lookup_ignores_case_and_surrounding_spaces_of_keys() -> None:
    t = parse_template("[~City]")
    for labels in ({"City": "A"}, {"city": "A"}, {"CITY": "A"}, {" City ": "A"}):
        assert t.render(None, labels) == "A"


def test_exact_spelling_wins_over_folded() -> None:
    labels = {"City": "exact", "city": "folded"}
    assert render("[~City]", **labels) == "exact"
    assert render("[~city]", **labels) == "folded"


def test_fallback_used_when_missing_empty_or_blank() -> None:
    t = parse_template("Hi [~First], from [~Town]", {"town": "us"})
    for value in (None, "", "   ", "\n"):
        labels = {"First": "Al"} if value is None else {"First": "Al", "Town": value}
        assert t.render(None, labels) == "Hi Al, from us"
    assert t.render(None, {"First": "Al", "Town": "Rome"}) == "Hi Al, from Rome"


def test_fallback_keys_are_folded_and_may_be_empty() -> None:
    t = parse_template("Hi%Title% [~ Last Name ]", {" TITLE ": "", "last name": "friend"})
    assert t.render(None, {}) == "Hi friend"
    assert t.fallbacks == {"title": "", "last name": "friend"}


def test_name_fallback_serves_percent_name() -> None:
    t = parse_template("Hi %Name%", {"Name": "there"})
    assert t.render(None, {}) == "Hi there"
    assert t.render("", {}) == "Hi there"
    assert t.render("Ann", {}) == "Hi Ann"


def test_percent_name_comes_from_the_name_argument_only() -> None:
    t = parse_template("Hi %Name%")
    with pytest.raises(MissingLabelError):
        t.render(None, {"name": "from labels"})
    assert parse_template("Hi [~name]").render("ignored", {"name": "Lab"}) == "Hi Lab"


def test_unused_fallbacks_are_ignored() -> None:
    assert render("plain", fallbacks={"city": "x"}) == "plain"


def test_missing_label_without_fallback() -> None:
    t = parse_template("Hi [~First Name], code %Code%", {"code": "none"})
    with pytest.raises(MissingLabelError) as info:
        t.render(None, {"Code": "1"})
    err = info.value
    assert isinstance(err, TextError)
    assert err.label == "First Name"
    assert err.reason == "missing_label:First Name"
    assert "'First Name'" in str(err)


def test_missing_name_without_fallback() -> None:
    with pytest.raises(MissingLabelError) as info:
        parse_template("Hi %name%").render(None, {})
    assert info.value.reason == "missing_label:name"


def test_render_is_repeatable() -> None:
    t = parse_template("[~a]-[~b]", {"b": "B"})
    assert [t.render(None, {"a": str(i)}) for i in range(3)] == ["0-B", "1-B", "2-B"]
    with pytest.raises(MissingLabelError):
        t.render(None, {})
    assert t.render(None, {"a": "x", "b": "y"}) == "x-y"


# --- malformed templates --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "position", "needle"),
    [
        ("Hi [~name", 3, "not closed"),
        ("[~", 0, "not closed"),
        ("ok [~a] then [~b", 13, "not closed"),
        ("[~name\n] x", 0, "not closed"),
        ("[~name\r\n]", 0, "not closed"),
        ("[~a [~b]", 0, "not closed"),
        ("x [~]", 2, "empty label"),
        ("x [~   ]", 2, "empty label"),
        ("", 0, "empty"),
    ],
)
def test_malformed_brackets(source: str, position: int, needle: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse_template(source)
    assert info.value.position == position
    assert needle in str(info.value)
    assert f"at position {position}" in str(info.value)


@pytest.mark.parametrize(
    ("source", "position", "needle"),
    [
        ("a\x00b", 1, "U+0000 (NUL)"),
        ("tab\there", 3, "U+0009 (TAB)"),
        ("\x0bvt", 0, "U+000B (VT)"),
        ("esc\x1b[0m", 3, "U+001B (ESC)"),
        ("del\x7f", 3, "U+007F (DEL)"),
        ("nel\x85", 3, "U+0085"),
        ("c1\x9f", 2, "U+009F"),
        ("bell \x07", 5, "U+0007"),
        ("hi \ud83d there", 3, "lone surrogate U+D83D"),
        ("\udc00", 0, "lone surrogate U+DC00"),
        ("[~na\x00me]", 4, "U+0000"),  # inside a label: the character, not 'not closed'
        ("%Name% \x01 [~x", 7, "U+0001"),  # the first problem by position
    ],
)
def test_forbidden_characters_are_named_with_their_position(
    source: str, position: int, needle: str
) -> None:
    with pytest.raises(TemplateError) as info:
        parse_template(source)
    assert info.value.position == position
    assert needle in str(info.value)


def test_line_breaks_form_feed_and_emoji_are_allowed() -> None:
    source = "Line 1\nLine 2\r\nPage\x0c 👩\u200d👩\u200d👧 ok\u00a0"
    assert render(source) == source


# --- fallback problems (at parse time) ------------------------------------------------------


def test_fallback_with_a_control_character() -> None:
    with pytest.raises(TemplateError) as info:
        parse_template("[~city]", {"City": "At\x00hens"})
    assert info.value.position == 2
    assert "'City'" in str(info.value) and "U+0000" in str(info.value)


def test_conflicting_fallbacks_for_one_label() -> None:
    with pytest.raises(TemplateError, match="'City' and 'CITY'"):
        parse_template("[~city]", {"City": "a", "CITY": "b"})
    assert parse_template("[~city]", {"City": "a", "CITY": "a"}).render(None, {}) == "a"


def test_fallback_for_an_empty_label() -> None:
    with pytest.raises(TemplateError, match="empty label"):
        parse_template("[~city]", {"  ": "x"})


# --- recipient values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "needle"),
    [("A\x00B", "U+0000 (NUL) at position 1"), ("x\ud800", "lone surrogate U+D800"), ("\x1b", "")],
)
def test_control_characters_in_a_value_are_refused_per_recipient(value: str, needle: str) -> None:
    t = parse_template("Hi [~First]", {"first": "there"})
    with pytest.raises(InvalidLabelValueError) as info:
        t.render(None, {"First": value})
    err = info.value
    assert isinstance(err, InvalidTextError)
    assert err.label == "First" and err.reason == "invalid_label_value:First"
    assert "'First'" in str(err) and needle in str(err)


def test_control_character_in_the_name() -> None:
    with pytest.raises(InvalidLabelValueError) as info:
        parse_template("Hi %Name%").render("Ann\x07", {})
    assert info.value.reason == "invalid_label_value:Name"


def test_values_that_are_not_printable_but_allowed() -> None:
    for value in ("a\u00a0b", "👨\u200d💻", "line\nbreak", "\u200bzero width"):
        assert render("[~v]", v=value) == value


def test_repr() -> None:
    assert repr(parse_template("Hi %Name%")) == "Template('Hi %Name%', placeholders=())"
    assert isinstance(parse_template("x"), Template)


# --- links ----------------------------------------------------------------------------------


def test_link_placeholders_in_any_case_take_the_recipients_urls() -> None:
    t = parse_template("Sale: %Link% stop: %OPTOUTLINK% %link%")
    assert t.uses_link and t.uses_opt_out_link and t.placeholders == ()
    text = t.render(None, {}, "https://s.x/l/a", "https://s.x/o/b")
    assert text == "Sale: https://s.x/l/a stop: https://s.x/o/b https://s.x/l/a"


def test_links_are_not_labels_but_bracket_labels_of_those_names_are() -> None:
    t = parse_template("[~Link] %Link%", {"link": "fallback unused by %Link%"})
    assert t.placeholders == ("Link",) and t.uses_link and not t.uses_opt_out_link
    assert t.render(None, {"link": "mine"}, "https://s.x/l/a") == "mine https://s.x/l/a"


def test_a_link_the_caller_did_not_give_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="%OptOutLink%"):
        parse_template("Stop: %OptOutLink%").render(None, {}, "https://s.x/l/a")
    plain = parse_template("Hi %Name%")
    assert not plain.uses_link and not plain.uses_opt_out_link
