"""The text pipeline per recipient: render the template, validate the number, encode + segment.

200k recipients with a realistic mix: numbers from 20 countries (mostly E.164, some national,
00-prefixed, spaced, and garbage), names in several scripts, campaigns whose templates give
plain GSM-7, GSM-7 with extension characters (€ [ ] { } ~ |), UCS-2 with emoji or accented
text (Greek, Polish; 8% of names are outside GSM-7 too), and long multipart texts (2-6
parts), with `%Name%` and `[~label]` placeholders and fallbacks; some flash. Stages as
expansion runs them: check_number, Template.render, encode_message (concat udh8, a rolling
reference). The messages come out 65% single-part GSM-7, 10% multipart GSM-7 (extension characters
in 8% of all) and 24% UCS-2 (mostly 2 parts): mostly GSM-7, with the UCS-2 share a
gateway sending to these 20 countries (Greek, Cyrillic, Arabic, CJK names and local-language
campaigns) would see; an EU/US-only one would see less UCS-2, so this mix is the harder one.

BASELINE, measured in the same run on the first 50k of the same recipients (it is 3-4x
slower; --baseline-recipients), per recipient: the libraries used directly.
phonenumbers.parse + is_valid_number + format_number(E164); re.sub-based substitution; the
encoding chosen by trying gsm0338's 'gsm03.38' codec, else UTF-16; split by python-smpplib's
make_parts logic (`make_parts_encoded` on those bytes: make_parts itself would encode again
with its own, much slower, `str.index` encoder, printed apart as an aside).

Each figure is the MEDIAN of 5 runs (--runs) of CPU time (process_time), pinned to one core
when the OS allows: the box has 2 shared cores. Fixed seed: runs are comparable.
Targets (one core): >= 40k recipients/s for the whole pipeline, >= 300k messages/s for
encoding + segmentation alone.
Run: .venv/bin/python bench/text.py [recipients] [--runs N] [--baseline-recipients N]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from herald.errors import TextError
from herald.numbers import check_number
from herald.text import encode_message
from herald.text.template import Template, parse_template

RECIPIENTS = 200_000
RUNS = 5
BASELINE_RECIPIENTS = 50_000
SEED = 20240601
TARGET_PIPELINE = 40_000  # recipients/s
TARGET_ENCODE = 300_000  # messages/s
CLOCK = time.process_time

COUNTRIES = [
    "GR",
    "GB",
    "US",
    "DE",
    "FR",
    "IT",
    "ES",
    "RU",
    "AU",
    "IN",
    "BR",
    "MX",
    "JP",
    "CN",
    "ZA",
    "NG",
    "KE",
    "EG",
    "TR",
    "NL",
]
GSM_NAMES = [
    "Maria",
    "John",
    "Anna",
    "Peter",
    "Sofia",
    "Ahmed",
    "Chen",
    "Olga",
    "Ravi",
    "Emma",
    "José",
    "Jörg",
    "Søren",
    "Åsa",
    "Müller",
    "Ana Belén",
    "O'Brien",
    "Nils-Åke",
]
OTHER_NAMES = ["Zoë", "Łukasz", "Çağla", "Мария", "Δήμητρα", "محمد", "李娜", "Nguyễn"]
OTHER_NAME_SHARE = 0.08  # names outside GSM-7 turn a GSM template into UCS-2
STORES = ["Athens Centre", "Oxford St", "Main St", "Alexanderplatz", "Rivoli", "Gran Via"]

LONG_GSM = (
    "Dear %Name%, thank you for being a loyal customer of [~Store] for [~Years] years. "
    "Your monthly statement is ready: the balance on account [~Account] is [~Balance] EUR "
    "and your next payment is due on [~Due]. Pay online at https://pay.example.com/[~Account] "
    "or at any branch. Questions? Call 800 123 456, Monday to Friday, 9:00 to 17:00. "
)
LONG_RU = (
    "Здравствуйте, %Name%! Ваш заказ [~Order] передан в доставку. Курьер привезёт его "
    "[~Due] с 9:00 до 18:00. Отследить заказ: https://ex.am/t/[~Order] Спасибо, что вы с нами! "
)

# (template, fallbacks, flash, weight): one campaign each.
CAMPAIGNS = [
    (
        "Hi %Name%, your code for [~Store] is [~Code]. It expires in 10 minutes. Reply STOP to "
        "opt out.",
        {"Name": "there"},
        False,
        40,
    ),
    (
        "%Name%, your appointment at [~Store] is confirmed for [~Due] at 10:30. Reply C to cancel.",
        {"Name": "Customer", "Store": "our shop"},
        False,
        15,
    ),
    ("[SUMMER] 20€ off {today} at [~Store] | code ~[~Code]~ | T&C: ex.am/tc", {}, False, 8),
    (
        "Hi %Name% 🎉 your parcel [~Order] is on its way 🚚 Track it: https://ex.am/t/[~Order]",
        {"Name": "friend"},
        False,
        8,
    ),
    (
        "Γεια σου %Name%, ο κωδικός σου για το [~Store] είναι [~Code]. Καλή συνέχεια!",
        {"Name": "φίλε"},
        False,
        4,
    ),
    ("Zażółć gęślą jaźń, %Name%! Kod rabatowy: [~Code] (ważny do [~Due]).", {}, False, 3),
    (LONG_GSM, {"Years": "many"}, False, 6),  # 3 parts
    (LONG_GSM * 2, {"Years": "many"}, False, 3),  # 5-6 parts
    ((LONG_GSM * 2)[:420], {"Years": "many"}, False, 3),  # 2-3 parts
    (LONG_RU, {}, False, 3),  # UCS-2, 3 parts
    ("ALERT %Name%: your card ending [~Last4] was used for [~Balance] EUR.", {}, True, 5),
]


@dataclass(slots=True)
class Recipient:
    phone: str
    region: str
    name: str | None
    labels: dict[str, str]
    campaign: int


@dataclass
class Workload:
    recipients: list[Recipient]
    templates: list[Template]  # herald's, parsed once per campaign
    sources: list[str]  # the raw templates, for the baseline
    fallbacks: list[dict[str, str]]
    flash: list[bool]


def make_workload(n: int = RECIPIENTS, seed: int = SEED) -> Workload:
    """`n` recipients with the mix described above, always the same for a seed."""
    rng = random.Random(seed)
    pools = {region: _numbers(region, rng) for region in COUNTRIES}
    weights = [c[3] for c in CAMPAIGNS]
    recipients = []
    for campaign in rng.choices(range(len(CAMPAIGNS)), weights=weights, k=n):
        region = rng.choice(COUNTRIES)
        recipients.append(
            Recipient(
                phone=_written(rng.choice(pools[region]), region, rng),
                region=region,
                name=_name(rng),
                labels=_labels(rng),
                campaign=campaign,
            )
        )
    return Workload(
        recipients=recipients,
        templates=[parse_template(c[0], c[1]) for c in CAMPAIGNS],
        sources=[c[0] for c in CAMPAIGNS],
        fallbacks=[{k.casefold(): v for k, v in c[1].items()} for c in CAMPAIGNS],
        flash=[c[2] for c in CAMPAIGNS],
    )


def _numbers(region: str, rng: random.Random) -> list[phonenumbers.PhoneNumber]:
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    assert example is not None, region
    national = str(example.national_number)
    found: list[phonenumbers.PhoneNumber] = []
    while len(found) < 200:
        digits = national[:-4] + f"{rng.randrange(10_000):04d}"
        number = phonenumbers.PhoneNumber(
            country_code=example.country_code, national_number=int(digits)
        )
        if phonenumbers.is_valid_number(number):
            found.append(number)
    return found


def _written(number: phonenumbers.PhoneNumber, region: str, rng: random.Random) -> str:
    """A number as people give it: mostly E.164, some national, 00-prefixed, spaced, garbage."""
    roll = rng.random()
    if roll < 0.80:
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if roll < 0.88:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    if roll < 0.92:
        return "00" + phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:]
    if roll < 0.97:
        return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    return rng.choice(["12", "+999 1234567", "call me", "+44 20", "0000000000", "n/a", "+"])


def _name(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.1:
        return None  # no name in the file: the fallback applies
    return rng.choice(OTHER_NAMES if roll < 0.1 + OTHER_NAME_SHARE else GSM_NAMES)


def _labels(rng: random.Random) -> dict[str, str]:
    labels = {
        "Store": rng.choice(STORES),
        "Code": f"{rng.randrange(1_000_000):06d}",
        "Due": f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        "Order": f"HX{rng.randrange(10**8):08d}",
        "Account": f"GR{rng.randrange(10**10):010d}",
        "Balance": f"{rng.randrange(100, 999_999) / 100:.2f}",
        "Last4": f"{rng.randrange(10_000):04d}",
        "Years": str(rng.randrange(1, 30)),
    }
    if rng.random() < 0.05:  # a recipient whose file left a label empty
        labels.pop(rng.choice(["Store", "Code", "Years"]))
    return labels


# --- herald's pipeline ------------------------------------------------------------------------


def herald_numbers(w: Workload) -> list[str | None]:
    return [check_number(r.phone, default_region=r.region)[0] for r in w.recipients]


def herald_render(w: Workload) -> list[str | None]:
    out: list[str | None] = []
    templates = w.templates
    for r in w.recipients:
        try:
            out.append(templates[r.campaign].render(r.name, r.labels))
        except TextError:  # missing label without fallback: skipped with a reason
            out.append(None)
    return out


def herald_encode(w: Workload, texts: list[str | None]) -> int:
    segments = 0
    flash = w.flash
    for i, (r, text) in enumerate(zip(w.recipients, texts, strict=True)):
        if text is not None:
            segments += encode_message(text, flash=flash[r.campaign], reference=i & 0xFF).segments
    return segments


def herald_pipeline(w: Workload) -> tuple[int, int]:
    """Per recipient, as expansion does it: number, render, encode. (messages, segments)"""
    templates, flash = w.templates, w.flash
    messages = segments = 0
    for i, r in enumerate(w.recipients):
        e164, _ = check_number(r.phone, default_region=r.region)
        if e164 is None:
            continue
        try:
            text = templates[r.campaign].render(r.name, r.labels)
        except TextError:
            continue
        segments += encode_message(text, flash=flash[r.campaign], reference=i & 0xFF).segments
        messages += 1
    return messages, segments


# --- baseline: the libraries used directly ----------------------------------------------------

_PLACEHOLDER_RE = re.compile(r"%(\w+)%|\[~([^\]]+)\]")


def _baseline_codecs() -> tuple[Callable[[str], object], Callable[[str], object]] | None:
    try:
        import gsm0338  # noqa: F401  (registers the 'gsm03.38' codec)
        from smpplib import consts
        from smpplib.gsm import make_parts, make_parts_encoded
    except ImportError:  # pragma: no cover - test extras not installed
        return None

    def encode_split(text: str) -> list[bytes]:
        try:
            data = text.encode("gsm03.38")
            single, part = consts.SEVENBIT_LENGTH, consts.SEVENBIT_PART_SIZE
        except UnicodeEncodeError:
            data = text.encode("utf-16-be")
            single, part = consts.UCS2_LENGTH, consts.UCS2_PART_SIZE
        return make_parts_encoded(data, part) if len(data) > single else [data]

    def smpplib_alone(text: str) -> object:
        return make_parts(text)

    return encode_split, smpplib_alone


def naive_number(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def naive_render(source: str, fallbacks: dict[str, str], name: str | None, labels: dict) -> str:
    def value(m: re.Match[str]) -> str:
        key = m.group(1) or m.group(2).strip()
        found = name if key.lower() == "name" else labels.get(key)
        return found or fallbacks[key.lower()]  # KeyError: missing, no fallback

    return _PLACEHOLDER_RE.sub(value, source)


def baseline_numbers(w: Workload) -> list[str | None]:
    return [naive_number(r.phone, r.region) for r in w.recipients]


def baseline_render(w: Workload) -> list[str | None]:
    out: list[str | None] = []
    sources, fallbacks = w.sources, w.fallbacks
    for r in w.recipients:
        try:
            out.append(naive_render(sources[r.campaign], fallbacks[r.campaign], r.name, r.labels))
        except KeyError:
            out.append(None)
    return out


def baseline_encode(w: Workload, texts: list[str | None], encode_split: Callable) -> int:
    return sum(len(encode_split(t)) for t in texts if t is not None)


def baseline_pipeline(w: Workload, encode_split: Callable) -> tuple[int, int]:
    sources, fallbacks = w.sources, w.fallbacks
    messages = segments = 0
    for r in w.recipients:
        if naive_number(r.phone, r.region) is None:
            continue
        try:
            text = naive_render(sources[r.campaign], fallbacks[r.campaign], r.name, r.labels)
        except KeyError:
            continue
        segments += len(encode_split(text))
        messages += 1
    return messages, segments


# --- measuring --------------------------------------------------------------------------------


def median_seconds(fn: Callable[[], object], runs: int | None = None) -> float:
    times = []
    for _ in range(runs or RUNS):
        start = CLOCK()
        fn()
        times.append(CLOCK() - start)
    return statistics.median(times)


def pin_to_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def main(n: int = RECIPIENTS, runs: int | None = None, baseline_n: int | None = None) -> None:
    runs = runs or RUNS
    pinned = pin_to_one_core()
    w = make_workload(n)
    codecs = _baseline_codecs()
    # The baseline is 3-4x slower: it runs on the first recipients only (the same i.i.d. mix).
    m = min(n, baseline_n or BASELINE_RECIPIENTS)
    print(
        f"text pipeline: {n:,} recipients, {len(CAMPAIGNS)} campaigns, median of {runs} "
        f"runs (CPU time), {pinned}; baseline on the first {m:,}"
    )

    texts = herald_render(w)
    stages = {
        "check_number": median_seconds(lambda: herald_numbers(w), runs) / n,
        "render": median_seconds(lambda: herald_render(w), runs) / n,
        "encode+segment": median_seconds(lambda: herald_encode(w, texts), runs) / n,
    }
    whole = median_seconds(lambda: herald_pipeline(w), runs) / n  # seconds per recipient
    messages, segments = herald_pipeline(w)
    encoded = sum(t is not None for t in texts) / n  # messages per recipient

    base: dict[str, float] = {}
    if codecs is not None:
        encode_split, smpplib_alone = codecs
        b = _sample(w, m)
        base_texts = baseline_render(b)
        base = {
            "check_number": median_seconds(lambda: baseline_numbers(b), runs) / m,
            "render": median_seconds(lambda: baseline_render(b), runs) / m,
            "encode+segment": median_seconds(
                lambda: baseline_encode(b, base_texts, encode_split), runs
            )
            / m,
        }
        base_whole = median_seconds(lambda: baseline_pipeline(b, encode_split), runs) / m
        base_encoded = sum(t is not None for t in base_texts) / m

    print(f"{'stage':16} {'herald us':>10} {'baseline us':>12} {'ratio':>7}")
    for stage, seconds in stages.items():
        line = f"{stage:16} {seconds * 1e6:10.2f}"
        if stage in base:
            line += f" {base[stage] * 1e6:12.2f} {base[stage] / seconds:6.1f}x"
        print(line)
    line = f"{'whole pipeline':16} {whole * 1e6:10.2f}"
    if base:
        line += f" {base_whole * 1e6:12.2f} {base_whole / whole:6.1f}x"
    print(line)

    rate = 1 / whole
    enc_rate = encoded / stages["encode+segment"]
    print(
        f"pipeline: {rate:,.0f} recipients/s ({messages:,} messages, {segments:,} segments; "
        f"target >= {TARGET_PIPELINE:,}: {'met' if rate >= TARGET_PIPELINE else 'NOT MET'})"
        + (f"; baseline {1 / base_whole:,.0f}/s, ratio {base_whole / whole:.1f}x" if base else "")
    )
    print(
        f"encoding + segmentation alone: {enc_rate:,.0f} messages/s (target >= "
        f"{TARGET_ENCODE:,}: {'met' if enc_rate >= TARGET_ENCODE else 'NOT MET'})"
        + (
            f"; baseline {base_encoded / base['encode+segment']:,.0f}/s, ratio "
            f"{base['encode+segment'] / stages['encode+segment']:.1f}x"
            if base
            else ""
        )
    )
    if codecs is not None:
        sample = [t for t in texts[:20_000] if t is not None]
        alone = median_seconds(lambda: [smpplib_alone(t) for t in sample], runs=3)
        print(
            f"aside: smpplib make_parts with its own GSM encoder: "
            f"{len(sample) / alone:,.0f} messages/s"
        )


def _sample(w: Workload, m: int) -> Workload:
    """The first `m` recipients of `w`, with the same campaigns."""
    return Workload(w.recipients[:m], w.templates, w.sources, w.fallbacks, w.flash)


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("recipients", nargs="?", type=int, default=RECIPIENTS)
    parser.add_argument("--runs", type=int, default=RUNS, help="runs per figure (median)")
    parser.add_argument(
        "--baseline-recipients",
        type=int,
        default=BASELINE_RECIPIENTS,
        help="recipients the (slow) baseline runs on",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _args(sys.argv[1:])
    main(args.recipients, args.runs, args.baseline_recipients)
