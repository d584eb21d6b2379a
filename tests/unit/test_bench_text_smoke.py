"""bench/text.py runs: its workload generator and both pipelines on 200 recipients, so the
benchmark cannot rot. No timing is asserted here (speed lives in `make bench`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "text.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_text", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_workload_is_the_described_mix_and_repeatable(bench) -> None:
    w = bench.make_workload(200, seed=1)
    assert len(w.recipients) == 200
    again = bench.make_workload(200, seed=1)
    assert [r.phone for r in w.recipients] == [r.phone for r in again.recipients]
    assert {r.campaign for r in w.recipients} >= {0, 1}
    assert sum(r.phone.startswith("+") for r in w.recipients) > 100
    assert len({r.region for r in w.recipients}) > 10


def test_pipelines_run_and_roughly_agree(bench) -> None:
    w = bench.make_workload(200, seed=1)
    messages, segments = bench.herald_pipeline(w)
    assert 150 <= messages <= 200 and segments >= messages
    encode_split, smpplib_alone = bench._baseline_codecs()
    base_messages, base_segments = bench.baseline_pipeline(w, encode_split)
    assert abs(base_messages - messages) <= 10  # garbage numbers are judged a little apart
    assert base_segments >= base_messages
    texts = bench.herald_render(w)
    assert bench.herald_encode(w, texts) >= sum(t is not None for t in texts)
    assert bench.baseline_encode(w, bench.baseline_render(w), encode_split) > 0
    assert len(bench.herald_numbers(w)) == len(bench.baseline_numbers(w)) == 200
    assert smpplib_alone("hello")


def test_main_prints_the_report(bench, capsys, monkeypatch) -> None:
    monkeypatch.setattr(bench, "RUNS", 1)
    monkeypatch.setattr(bench, "pin_to_one_core", lambda: "not pinned (test)")
    bench.main(200)
    out = capsys.readouterr().out
    for needle in ("recipients/s", "messages/s", "ratio", "whole pipeline", "encode+segment"):
        assert needle in out


def test_runs_and_a_smaller_baseline_sample(bench, capsys, monkeypatch) -> None:
    monkeypatch.setattr(bench, "pin_to_one_core", lambda: "not pinned (test)")
    args = bench._args(["300", "--runs", "1", "--baseline-recipients", "100"])
    assert (args.recipients, args.runs, args.baseline_recipients) == (300, 1, 100)
    assert bench._args([]).runs == bench.RUNS
    bench.main(args.recipients, args.runs, args.baseline_recipients)
    out = capsys.readouterr().out
    assert "median of 1 runs" in out and "baseline on the first 100" in out
    assert "ratio" in out
