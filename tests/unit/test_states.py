"""The state tables: every legal transition, every illegal one, and part aggregation."""

from __future__ import annotations

import itertools

import pytest

from herald import states
from herald.errors import StateError
from herald.states import (
    BATCH,
    CALLBACK,
    CAMPAIGN,
    MESSAGE,
    PART,
    Machine,
    aggregate_parts,
    settle_message,
    transition,
)

# The tables restated row by row, as docs/architecture.md (state machines) describes them: a
# change to states.py must be mirrored here on purpose.
EXPECTED: dict[str, set[tuple[str | None, str, str]]] = {
    "campaign": {
        (None, "schedule", "scheduled"),
        (None, "run", "running"),
        ("scheduled", "edit", "scheduled"),
        ("scheduled", "run", "running"),
        ("completed", "run", "running"),
        ("stopped", "run", "running"),
        ("completed", "schedule", "scheduled"),
        ("stopped", "schedule", "scheduled"),
        ("running", "suspend", "suspended"),
        ("suspended", "resume", "running"),
        ("scheduled", "stop", "stopped"),
        ("running", "stop", "stopped"),
        ("suspended", "stop", "stopped"),
        ("running", "complete", "completed"),
        ("suspended", "complete", "completed"),
    },
    "batch": {
        (None, "create", "expanding"),
        ("expanding", "expanded", "sending"),
        ("suspended", "expanded", "suspended"),
        ("expanding", "fail", "failed"),
        ("expanding", "suspend", "suspended"),
        ("sending", "suspend", "suspended"),
        ("suspended", "resume", "sending"),
        ("expanding", "stop", "stopped"),
        ("sending", "stop", "stopped"),
        ("suspended", "stop", "stopped"),
        ("sending", "complete", "completed"),
        ("suspended", "complete", "completed"),
    },
    "message": {
        (None, "queue", "queued"),
        (None, "defer", "deferred"),
        (None, "reject", "rejected"),
        ("queued", "claim", "sending"),
        ("deferred", "claim", "sending"),
        ("queued", "defer", "deferred"),
        ("sending", "defer", "deferred"),
        ("sending", "release", "queued"),
        ("sending", "submit", "sent"),
        ("sending", "reject", "rejected"),
        ("sending", "lose", "unknown"),
        ("sent", "lose", "unknown"),
        ("sending", "fail", "failed"),
        ("deferred", "fail", "failed"),
        ("sent", "fail", "failed"),
        ("sending", "deliver", "delivered"),
        ("sent", "deliver", "delivered"),
        ("sent", "expire", "unknown"),
        ("queued", "stop", "stopped"),
        ("deferred", "stop", "stopped"),
        ("sending", "stop", "stopped"),
    },
    "part": {
        (None, "create", "pending"),
        ("pending", "retry", "pending"),
        ("pending", "accept", "submitted"),
        ("pending", "refuse", "refused"),
        ("pending", "lose", "unknown"),
        *(
            (source, receipt, receipt)
            for source in ("submitted", "enroute", "accepted")
            for receipt in states.RECEIPT_STATES
        ),
        ("submitted", "sweep", "expired"),
        ("enroute", "sweep", "expired"),
        ("accepted", "sweep", "expired"),
    },
    "callback": {
        (None, "create", "pending"),
        ("pending", "retry", "pending"),
        ("pending", "deliver", "delivered"),
        ("pending", "give_up", "dead"),
    },
}

FINAL = {
    "campaign": set(),
    "batch": {"stopped", "completed", "failed"},
    "message": {"delivered", "failed", "rejected", "unknown", "stopped"},
    "part": {"refused", "delivered", "undeliverable", "expired", "deleted", "rejected", "unknown"},
    "callback": {"delivered", "dead"},
}

MACHINES = [CAMPAIGN, BATCH, MESSAGE, PART, CALLBACK]


def _all_cases(machine: Machine) -> list[tuple[str | None, str]]:
    return list(itertools.product([None, *machine.states], sorted(machine.events)))


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_table_is_exactly_the_expected_rows(machine: Machine) -> None:
    rows = {(source, event, target) for (source, event), target in machine.table.items()}
    assert rows == EXPECTED[machine.name]
    assert machine.final == FINAL[machine.name]


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_every_legal_and_illegal_transition(machine: Machine) -> None:
    legal = {(s, e): t for s, e, t in EXPECTED[machine.name]}
    for state, event in _all_cases(machine):
        if (state, event) in legal:
            assert transition(machine, state, event) == legal[(state, event)]
            assert states.can_transition(machine, state, event)
        else:
            with pytest.raises(StateError) as info:
                transition(machine, state, event)
            assert repr(event) in str(info.value)
            assert (repr(state) if state else f"new {machine.name}") in str(info.value)
            assert not states.can_transition(machine, state, event)


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_final_states_have_no_way_out_and_every_state_is_reachable(machine: Machine) -> None:
    reachable: set[str] = set()
    frontier: list[str | None] = [None]
    while frontier:
        state = frontier.pop()
        for (source, _), target in machine.table.items():
            if source == state and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(machine.states)
    for state in machine.final:
        assert not any(source == state for source, _ in machine.table)
        assert states.is_final(machine, state)


def test_unknown_event_names_the_state_and_event() -> None:
    with pytest.raises(StateError, match=r"'suspend' is not allowed for a campaign in 'completed'"):
        transition(CAMPAIGN, "completed", "suspend")
    with pytest.raises(StateError, match=r"'edit'.*'running'.*allowed: complete, stop, suspend"):
        transition(CAMPAIGN, "running", "edit")


def test_a_machine_rejects_bad_tables() -> None:
    with pytest.raises(ValueError, match="final state"):
        Machine("m", ("a", "b"), frozenset({"b"}), {("b", "x"): "a"})
    with pytest.raises(ValueError, match="'c'"):
        Machine("m", ("a",), frozenset(), {("a", "x"): "c"})
    with pytest.raises(ValueError, match="duplicate"):
        states._rows((["a"], "x", "b"), (["a"], "x", "c"))


@pytest.mark.parametrize(
    ("parts", "status"),
    [
        (["delivered"], "delivered"),
        (["delivered", "delivered", "delivered"], "delivered"),
        (["delivered", "enroute"], "sent"),
        (["submitted", "accepted"], "sent"),
        (["delivered", "pending"], "sending"),
        (["pending"], "sending"),
        (["delivered", "undeliverable"], "failed"),
        (["expired", "pending"], "failed"),  # failed as soon as one part failed finally
        (["enroute", "deleted"], "failed"),
        (["rejected", "delivered"], "failed"),
        (["undeliverable", "unknown"], "failed"),
        (["refused", "pending"], "rejected"),
        (["submitted", "unknown"], "unknown"),
        (["delivered", "unknown"], "unknown"),
    ],
)
def test_aggregate_parts(parts: list[str], status: str) -> None:
    assert aggregate_parts(parts) == status
    assert status in MESSAGE.states


def test_aggregate_parts_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        aggregate_parts([])
    with pytest.raises(StateError, match="queued"):
        aggregate_parts(["delivered", "queued"])


def test_aggregation_covers_every_combination_of_two_parts() -> None:
    for pair in itertools.product(PART.states, repeat=2):
        assert aggregate_parts(pair) in MESSAGE.states


@pytest.mark.parametrize(
    ("state", "parts", "new"),
    [
        ("sending", ["submitted", "submitted"], "sent"),
        ("sending", ["submitted", "pending"], "sending"),
        ("sent", ["delivered", "enroute"], "sent"),
        ("sent", ["delivered", "delivered"], "delivered"),
        ("sent", ["delivered", "undeliverable"], "failed"),
        ("deferred", ["undeliverable", "pending"], "failed"),
        ("sent", ["unknown", "delivered"], "unknown"),
        ("sending", ["refused", "pending"], "rejected"),
        ("delivered", ["undeliverable"], "delivered"),  # final: never revisited
        ("unknown", ["delivered"], "unknown"),
    ],
)
def test_settle_message(state: str, parts: list[str], new: str) -> None:
    assert settle_message(state, parts) == new


def test_settle_message_refuses_an_impossible_move() -> None:
    with pytest.raises(StateError):
        settle_message("queued", ["delivered"])  # a queued message has no delivered part
