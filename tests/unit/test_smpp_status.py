"""command_status table: every named code's class, and unknown codes never raise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.smpp.status import (
    DEFAULT_TABLE,
    STATUSES,
    CommandStatus,
    StatusClass,
    StatusTable,
    classify,
    status_name,
)

S = CommandStatus
C = StatusClass

# The action column of docs/protocol.md §4.2, code by code.
EXPECTED = {
    S.ESME_ROK: C.OK,
    S.ESME_RTHROTTLED: C.THROTTLED,
    S.ESME_RMSGQFUL: C.QUEUE_FULL,
    S.ESME_RSYSERR: C.RETRY,
    S.ESME_RX_T_APPN: C.RETRY,
    S.ESME_RUNKNOWNERR: C.RETRY,
    S.ESME_RBINDFAIL: C.RETRY,
    S.ESME_RINVPASWD: C.BIND_FATAL,
    S.ESME_RINVSYSID: C.BIND_FATAL,
    S.ESME_RINVSYSTYP: C.BIND_FATAL,
    S.ESME_RINVBNDSTS: C.REBIND,
    S.ESME_RALYBND: C.ALREADY_BOUND,
    S.ESME_RINVSCHED: C.PERMANENT,
    S.ESME_RINVMSGLEN: C.PERMANENT,
    S.ESME_RINVCMDLEN: C.PERMANENT,
    S.ESME_RINVCMDID: C.PERMANENT,
    S.ESME_RINVSRCADR: C.PERMANENT,
    S.ESME_RINVDSTADR: C.PERMANENT,
    S.ESME_RSUBMITFAIL: C.PERMANENT,
    S.ESME_RINVESMCLASS: C.PERMANENT,
    S.ESME_RINVSRCTON: C.PERMANENT,
    S.ESME_RINVSRCNPI: C.PERMANENT,
    S.ESME_RINVDSTTON: C.PERMANENT,
    S.ESME_RINVDSTNPI: C.PERMANENT,
    S.ESME_RINVSERTYP: C.PERMANENT,
    S.ESME_RINVEXPIRY: C.PERMANENT,
    S.ESME_RINVOPTPARSTREAM: C.PERMANENT,
    S.ESME_ROPTPARNOTALLWD: C.PERMANENT,
    S.ESME_RINVPARLEN: C.PERMANENT,
    S.ESME_RMISSINGOPTPARAM: C.PERMANENT,
    S.ESME_RINVOPTPARAMVAL: C.PERMANENT,
    S.ESME_RX_P_APPN: C.PERMANENT,
    S.ESME_RX_R_APPN: C.PERMANENT,
}


@pytest.mark.parametrize("code", list(EXPECTED))
def test_reference_codes_have_the_recommended_class(code: CommandStatus) -> None:
    assert classify(code) is EXPECTED[code]
    assert status_name(code) == code.name


def test_every_3_4_code_is_named_and_classified() -> None:
    assert set(STATUSES) == set(CommandStatus)
    for code, status in STATUSES.items():
        assert status.code == code and status.name.startswith("ESME_R")
        assert isinstance(status.status_class, StatusClass)
        assert status.description


def test_temporary_classes() -> None:
    temporary = {c for c in StatusClass if c.temporary}
    assert temporary == {C.RETRY, C.THROTTLED, C.QUEUE_FULL, C.REBIND}


def test_limited_retries_follow_the_reference() -> None:
    assert DEFAULT_TABLE.describe(S.ESME_RSYSERR).max_retries == 3
    assert DEFAULT_TABLE.describe(S.ESME_RUNKNOWNERR).max_retries == 2
    assert DEFAULT_TABLE.describe(S.ESME_RTHROTTLED).max_retries is None


def test_vendor_and_reserved_codes_fall_back_to_permanent_with_readable_names() -> None:
    assert classify(0x401) is C.PERMANENT
    assert status_name(0x401) == "vendor_0x00000401"
    assert status_name(0x70) == "reserved_0x00000070"
    described = DEFAULT_TABLE.describe(0x4FF)
    assert (described.name, described.description) == (
        "vendor_0x000004ff",
        "vendor-specific error code",
    )


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_no_code_ever_raises(code: int) -> None:
    assert isinstance(classify(code), StatusClass)
    assert status_name(code)
    assert DEFAULT_TABLE.describe(code).code == code


def test_per_bind_overrides_are_data() -> None:
    table = StatusTable({0x401: "retry", S.ESME_RSUBMITFAIL: C.RETRY}, fallback="retry")
    assert table.classify(0x401) is C.RETRY
    assert table.classify(S.ESME_RSUBMITFAIL) is C.RETRY
    assert table.classify(0x402) is C.RETRY  # the fallback
    assert table.describe(S.ESME_RSUBMITFAIL).name == "ESME_RSUBMITFAIL"
    assert table.describe(S.ESME_RSUBMITFAIL).status_class is C.RETRY
    assert classify(S.ESME_RSUBMITFAIL) is C.PERMANENT  # the default table is untouched


def test_table_from_the_config_list_of_temporary_statuses() -> None:
    table = StatusTable.with_temporary([0x400, 0x45])
    assert table.classify(0x400) is C.RETRY and table.classify(0x45) is C.RETRY
    assert table.classify(0x401) is C.PERMANENT


def test_unknown_class_name_in_an_override_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="'sometimes' is not a valid StatusClass"):
        StatusTable({0x401: "sometimes"})
