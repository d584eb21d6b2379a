"""Properties of templates: literal text survives, values round-trip, any text parses or fails
with TemplateError at a position inside it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from herald.errors import TemplateError
from herald.text.template import label_key, parse_template

# Every character a message may hold: no surrogates, no control characters but LF, CR and FF.
ALLOWED = st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n\r\x0c%[~]")
allowed_text = st.text(ALLOWED, max_size=60)
# Label values: anything allowed that is not blank (blank values count as missing).
values = allowed_text.filter(lambda v: v and not v.isspace())
bracket_labels = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="[]"), min_size=1
).filter(lambda s: s.strip())


def escape(text: str) -> str:
    return text.replace("%", "%%")


@given(allowed_text.filter(lambda t: t and "[~" not in t))
def test_template_without_placeholders_renders_its_text(text: str) -> None:
    t = parse_template(escape(text))
    assert t.placeholders == () and not t.uses_name
    assert t.render(None, {}) == text
    assert t.render("Ann", {"x": "y"}) == text


@given(
    allowed_text,
    bracket_labels,
    values,
    allowed_text.filter(lambda t: "[~" not in t),
)
def test_bracket_label_values_round_trip(prefix: str, label: str, value: str, suffix: str) -> None:
    prefix = prefix.replace("[~", "[ ~")
    t = parse_template(f"{escape(prefix)}[~{label}]{escape(suffix)}")
    assert t.placeholders == (label.strip(),)
    assert t.render(None, {label.strip(): value}) == prefix + value + suffix
    if label_key(label.upper()) == label_key(label):  # not so for 'ı', whose upper is 'I'
        assert t.render(None, {label.upper(): value}) == prefix + value + suffix


@given(
    st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=5),
    st.data(),
)
def test_many_values_round_trip(names: list[str], data: st.DataObject) -> None:
    names = [n for n in names if n.casefold() != "name"] or ["label"]
    source = "|".join(f"%{n}%" if i % 2 else f"[~{n}]" for i, n in enumerate(names))
    given_values = {label_key(n): data.draw(values) for n in names}
    labels = {n: given_values[label_key(n)] for n in names}
    expected = "|".join(given_values[label_key(n)] for n in names)
    assert parse_template(source).render(None, labels) == expected


@given(values, allowed_text.filter(lambda t: "[~" not in t))
def test_name_round_trips(name: str, text: str) -> None:
    assert parse_template(escape(text) + "%Name%").render(name, {}) == text + name


@given(st.text(max_size=80))
def test_any_text_parses_or_fails_with_a_position_inside_it(source: str) -> None:
    try:
        t = parse_template(source)
    except TemplateError as err:
        assert 0 <= err.position <= max(len(source) - 1, 0)
        return
    assert t.source == source
    labels = {label: "v" for label in t.placeholders}
    t.render("n", labels)
