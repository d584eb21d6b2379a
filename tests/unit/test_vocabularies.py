"""Each vocabulary is declared once; where a copy must stay, a test keeps it equal.

The API's schemas and the configuration take their Literal types from the declaring module
(statuses from herald.states, text options from herald.text, ...). The command line keeps two
copies, because importing their sources would load the server's stack at every start: those are
compared here. (The database CHECK constraints are compared in test_store_schema.py.)
"""

from __future__ import annotations

from typing import get_args

import click

from herald import states
from herald.api import schemas
from herald.campaigns.service import SORT_FIELDS
from herald.cli import campaigns as cli_campaigns
from herald.cli import output
from herald.cli.main import main
from herald.config import BindConfig
from herald.text.encoding import _MAX_REFERENCE
from herald.text.national import NATIONAL_LANGUAGES
from herald.text.segment import CONCAT_METHODS, CONCAT_UDH_OCTETS


def _choices(command: click.Command, option: str) -> tuple[str, ...]:
    for param in command.params:
        if param.name == option:
            assert isinstance(param.type, click.Choice)
            return tuple(param.type.choices)
    raise AssertionError(f"{command.name} has no option {option}")


def test_the_apis_statuses_are_the_state_tables() -> None:
    fields = schemas.Counters.model_fields
    assert list(fields) == ["expected", *states.MESSAGE.states]
    assert get_args(schemas.MessageOut.model_fields["status"].annotation) == states.MESSAGE.states
    assert get_args(schemas.CampaignOut.model_fields["status"].annotation) == states.CAMPAIGN.states
    assert get_args(schemas.BatchOut.model_fields["status"].annotation) == states.BATCH.states
    assert get_args(schemas.PartOut.model_fields["state"].annotation) == states.PART.states


def test_the_command_lines_statuses_are_the_state_tables() -> None:
    assert states.MESSAGE.states == output.MESSAGE_STATUSES
    assert set(output.FINAL_STATUSES) == states.MESSAGE.final
    assert states.CAMPAIGN.states == cli_campaigns.CAMPAIGN_STATUSES
    list_command = cli_campaigns.campaign.commands["list"]
    assert _choices(list_command, "statuses") == states.CAMPAIGN.states


def test_the_command_lines_copies_agree_with_their_sources() -> None:
    assert cli_campaigns.SORT_FIELDS == SORT_FIELDS
    assert _choices(cli_campaigns.campaign.commands["list"], "sort") == SORT_FIELDS
    assert isinstance(main, click.Group)
    assert _choices(main.commands["preview"], "concat") == CONCAT_METHODS


def test_text_options_are_declared_once() -> None:
    assert set(CONCAT_UDH_OCTETS) == set(_MAX_REFERENCE) == set(CONCAT_METHODS)
    assert get_args(BindConfig.model_fields["concat"].annotation) == CONCAT_METHODS
    assert get_args(schemas.PreviewIn.model_fields["concat"].annotation) == CONCAT_METHODS
    language = get_args(BindConfig.model_fields["national"].annotation)[0]  # tuple[X, ...]
    assert get_args(language) == NATIONAL_LANGUAGES
