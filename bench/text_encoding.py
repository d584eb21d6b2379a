"""Micro-benchmarks of herald.text.encode_message (encoding choice + segmentation).

Prints microseconds per message for each case and messages/s for a realistic mix, side by side
with a baseline measured in the same run: gsm0338's codec (the library the architecture doc
rejected for run time) encoding the same texts, without any choice or segmentation.
Run: .venv/bin/python bench/text_encoding.py
"""

from __future__ import annotations

import random
import time
import timeit
from collections.abc import Callable

from herald.text import encode_message

CASES = {
    "plain GSM, 1 part": "Hi Maria, your code is 482913. It expires in 10 minutes. Reply STOP.",
    "GSM with é/ü, 1 part": "Hallo Jörg, Ihre Bestellung ist da. Grüße aus München! Réf. 12345.",
    "GSM extension chars": "Promo [SUMMER]: 20€ off {today} only | use code ~SALE~ at checkout",
    "UCS-2 emoji, 1 part": "Hi Maria 😀 your order shipped! Track it here: https://ex.am/p/123",
    "UCS-2 Cyrillic, 1 part": "Здравствуйте, Мария! Ваш код подтверждения: 482913.",
    "GSM 3 parts": ("Dear customer, your monthly statement is ready. " * 8)[:420],
    "UCS-2 3 parts": ("Привет! Ваш счёт за месяц готов. " * 6)[:190],
    "UCS-2 emoji ZWJ, 3 parts": ("Family day 👨‍👩‍👧‍👦 at the park 🇮🇹 👍🏽 " * 6)[:180],
    "Turkish national, 1 part": "Şişli'de buluşalım mı? Yarın saat 10'da görüşürüz.",
}
NATIONAL = {"Turkish national, 1 part": ("tr",)}

# Mostly plain GSM single part, some extension chars, some UCS-2 with emoji, some long.
MIX_WEIGHTS = {
    "plain GSM, 1 part": 60,
    "GSM with é/ü, 1 part": 10,
    "GSM extension chars": 8,
    "UCS-2 emoji, 1 part": 8,
    "UCS-2 Cyrillic, 1 part": 4,
    "GSM 3 parts": 6,
    "UCS-2 3 parts": 2,
    "UCS-2 emoji ZWJ, 3 parts": 2,
}


# CPU time of this process, best of 5: the box has 2 shared cores and wall time wanders with
# whatever else runs.
CLOCK = time.process_time


def per_call_us(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5, timer=CLOCK)) / number * 1e6


def _gsm0338(text: str) -> object:
    try:
        return text.encode("gsm03.38")
    except UnicodeEncodeError:
        return text.encode("utf-16-be")


def main() -> None:
    baseline: Callable[[str], object] | None = _gsm0338
    try:
        import gsm0338  # noqa: F401  (registers the 'gsm03.38' codec)
    except ImportError:  # pragma: no cover - test extras not installed
        baseline = None

    print(f"{'case':28} {'herald us':>10} {'gsm0338 us':>11} {'ratio':>6}")
    for name, text in CASES.items():
        national = NATIONAL.get(name, ())
        ours = per_call_us(lambda t=text, n=national: encode_message(t, national=n), 20000)
        if baseline is not None:
            base = per_call_us(lambda t=text: baseline(t), 5000)
            print(f"{name:28} {ours:10.2f} {base:11.2f} {base / ours:6.1f}x")
        else:
            print(f"{name:28} {ours:10.2f}")

    rng = random.Random(7)
    names = list(MIX_WEIGHTS)
    mix = rng.choices(names, weights=[MIX_WEIGHTS[n] for n in names], k=10000)
    texts = [CASES[n] for n in mix]

    def run_mix() -> None:
        for t in texts:
            encode_message(t)

    best = min(timeit.repeat(run_mix, number=1, repeat=9, timer=CLOCK))
    line = f"mix of {len(texts)} messages: {len(texts) / best:,.0f} messages/s"
    if baseline is not None:

        def run_base() -> None:
            for t in texts:
                baseline(t)

        base = min(timeit.repeat(run_base, number=1, repeat=3, timer=CLOCK))
        line += f" (gsm0338 encode only: {len(texts) / base:,.0f}/s, ratio {base / best:.1f}x)"
    print(line)


if __name__ == "__main__":
    main()
