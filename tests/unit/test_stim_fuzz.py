"""Fuzz the reply parsers: random bytes raise only the drivers' own typed errors."""

from __future__ import annotations

from contextlib import suppress

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config import StimulatorSettings
from instruments.stimulator import StimulatorError
from instruments.stimulator import magstim_codec as mc
from instruments.stimulator import magventure_codec as mv
from instruments.stimulator.magstim import MagstimStimulator
from instruments.stimulator.magventure import MagVentureStimulator

MAGSTIM_COMMANDS = [
    mc.ARM,
    mc.DISARM,
    mc.FIRE,
    mc.REMOTE_ON,
    mc.PARAMETERS,
    mc.TEMPERATURE,
    mc.RAPID_PARAMETERS,
    mc.frequency(10),
    mc.pulses(40, 9),
    mc.power_a(50),
]
junk = st.binary(max_size=40)


@given(cmd=st.sampled_from(MAGSTIM_COMMANDS), data=junk, version=st.integers(1, 12))
def test_magstim_parse_reply_raises_only_typed_errors(
    cmd: bytes, data: bytes, version: int
) -> None:
    with suppress(StimulatorError):
        mc.parse_reply(cmd, data, version)
    n = mc.expected_length(cmd, data, version)
    assert n >= 1


@given(cmd=st.sampled_from(MAGSTIM_COMMANDS), body=junk, version=st.integers(1, 12))
def test_magstim_replies_with_a_valid_crc_still_only_raise_typed_errors(
    cmd: bytes, body: bytes, version: int
) -> None:
    data = cmd[:1] + body
    with suppress(StimulatorError):
        mc.parse_reply(cmd, data + bytes([mc.crc(data)]), version)


@given(data=junk)
def test_magventure_frame_parsers_raise_only_typed_errors(data: bytes) -> None:
    for parse in (mv.parse_frame,):
        try:
            frame = parse(data)
        except StimulatorError:
            continue
        for decode in (mv.decode_status, mv.decode_short):
            with suppress(StimulatorError):
                decode(frame)
    frames, noise, tail = mv.split_frames(data)
    assert sum(map(len, frames)) + len(noise) + len(tail) == len(data)


@given(ident=st.integers(0, 255), payload=st.binary(max_size=31))
def test_magventure_well_framed_junk_decodes_or_raises_typed_errors(
    ident: int, payload: bytes
) -> None:
    frame = mv.parse_frame(mv.encode(ident, payload))
    for decode in (mv.decode_status, mv.decode_short):
        with suppress(StimulatorError):
            decode(frame)


class JunkPort:
    """Answers every write with the next canned junk reply."""

    resource = "ASRL/dev/junk::INSTR"

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = list(replies)
        self.rx = bytearray()

    def write(self, data: bytes) -> None:
        self.rx.extend(self.replies.pop(0) if self.replies else b"")

    def read(self, n: int, deadline: float) -> bytes:
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out

    def read_available(self) -> bytes:
        out = bytes(self.rx)
        self.rx.clear()
        return out

    def close(self) -> None:
        pass


def _config(driver: str, model: str) -> StimulatorSettings:
    return StimulatorSettings(
        driver=driver, resource=JunkPort.resource, model=model, serial="F1", timeout_ms=1
    )


@settings(max_examples=60, deadline=None)
@given(replies=st.lists(junk, min_size=1, max_size=6))
def test_drivers_fed_junk_raise_only_typed_errors(replies: list[bytes]) -> None:
    stims = [
        MagstimStimulator(
            _config("magstim", "rapid2"), JunkPort(replies), clock_speed=1e6, resync_quiet_s=0.0
        ),
        MagVentureStimulator(
            _config("magventure", "magpro-x100"),
            JunkPort(replies),
            clock_speed=1e6,
            resync_quiet_s=0.0,
        ),
    ]
    for stim in stims:
        for action in (stim.status, stim.coil_temperature, stim.fire):
            with suppress(StimulatorError):
                action()
