"""`herald preview`: through click's CliRunner, and once as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from herald.cli.main import main

HERALD = Path(sys.executable).with_name("herald")


def preview(*args: str) -> dict:
    result = CliRunner().invoke(main, ["preview", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_json_for_plain_gsm() -> None:
    assert preview("Hello world") == {
        "encoding": "gsm7",
        "data_coding": 0,
        "esm_class": 0,
        "segments": 1,
        "units": [11],
        "sm_length": [11],
        "chars_left": 149,
        "national": None,
        "forced_ucs2_by": [],
        "parts_hex": [b"Hello world".hex()],
    }


def test_json_for_multipart_ucs2_names_the_culprit() -> None:
    found = preview("ú" * 71)
    assert found["encoding"] == "ucs2" and found["segments"] == 2
    assert found["units"] == [67, 4] and found["sm_length"] == [140, 14]
    assert found["forced_ucs2_by"] == ["ú"]
    assert found["parts_hex"][0].startswith("050003000201")


def test_json_national_flash_udh16() -> None:
    found = preview(
        "--national", "tr,es", "--flash", "--concat", "udh16", "--reference", "513", "ş" * 160
    )
    assert found["national"] == ["tr", None]
    assert found["data_coding"] == 0xF0 and found["esm_class"] == 0x40
    assert found["units"] == [148, 12]
    assert found["parts_hex"][0].startswith("09080402010201250101")


def test_json_sar_and_payload_show_tlvs() -> None:
    sar = preview("--concat", "sar", "a" * 200)
    assert sar["tlvs_hex"][1] == "020c00020000020e000102020f000102"
    payload = preview("--concat", "payload", "a" * 200)
    assert payload["segments"] == 2 and payload["sm_length"] == [0]
    assert payload["tlvs_hex"][0].startswith("042400c8")


def test_json_transcoded_text() -> None:
    found = preview("--transcode", "“Olá” — ok…")
    assert found["encoding"] == "gsm7" and found["text"] == '"Ola" - ok...'


def test_human_summary() -> None:
    result = CliRunner().invoke(main, ["preview", "a" * 161])
    assert result.exit_code == 0
    assert "GSM-7, 2 segments" in result.output
    assert "part 1: 153 septets, sm_length 159" in result.output
    assert "characters left in the last segment: 145" in result.output
    result = CliRunner().invoke(main, ["preview", "ça va"])
    assert "UCS-2 because of: 'ç'" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a\x00b"], "U+0000"),
        (["--national", "de", "hi"], "unknown national table 'de'"),
        (["--concat", "udh7", "hi"], "udh7"),
        (["--reference", "300", "hi"], "reference 300"),
        (["a" * 40000], "needs 262 parts"),
    ],
)
def test_bad_input_exits_non_zero_with_the_reason(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["preview", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_real_process() -> None:
    done = subprocess.run(
        [str(HERALD), "preview", "--json", "--national", "tr", "Şişli'de buluşalım mı?"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["units"] == [22] and found["sm_length"] == [26]
    assert found["parts_hex"][0].startswith("03250101")
    bad = subprocess.run(
        [str(HERALD), "preview", "hi", "--national", "xx"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "unknown national table 'xx'" in bad.stderr
