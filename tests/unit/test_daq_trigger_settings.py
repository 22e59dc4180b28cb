"""``[daq] trigger_out`` / ``trigger_out_term``: the counter wired to the stimulator's trigger
input, checked when the bench file is read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from instruments.daq.settings import DaqChannel, DaqSettings

COUNT = {"trigger_count": DaqChannel(physical="Dev1/ctr0", kind="counter")}


def test_the_terminal_defaults_to_the_counters_own_output() -> None:
    assert DaqSettings(device="Dev1", trigger_out="Dev1/ctr1").trigger_terminal() == "/Dev1/PFI13"
    assert DaqSettings(device="Dev1", trigger_out="dev1/CTR3").trigger_terminal() == "/Dev1/PFI15"
    wired = DaqSettings(device="Dev1", trigger_out="Dev1/ctr1", trigger_out_term="/Dev1/PFI4")
    assert wired.trigger_terminal() == "/Dev1/PFI4"
    assert DaqSettings(device="Dev1").trigger_terminal() is None


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"trigger_out": "Dev2/ctr1"}, "trigger_out: 'Dev2/ctr1' is not a counter of Dev1"),
        ({"trigger_out": "Dev1/ai0"}, "is not a counter of Dev1"),
        ({"trigger_out": "Dev1/ctr0", "channels": COUNT}, "also channel 'trigger_count'"),
        ({"trigger_out": "Dev1/ctr1", "trigger_out_term": "PFI13"}, "not a terminal like"),
    ],
)
def test_a_wrong_wiring_is_refused_naming_the_key(kw: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DaqSettings(device="Dev1", **kw)
