"""Treatment protocols (``protocols/*.toml``) delivered as prescribed, pulse for pulse.

Each protocol is checked against the spec before its first pulse, delivered through the
rig on its schedule, and judged against its prescription: pulse count (scope and DAQ
counter), timing per pulse and per train (device clock), dI/dt of every pulse against
the spec's output at the prescribed %MSO, coil temperature, total duration. Every check
is a measurement; every delivery a dose record in the journal.

``make demo`` runs the first pulses of each protocol (the whole pattern, a few trains)
on the default clock; ``--run-slow`` runs each protocol in full (the accelerated day is
slow only: ten sessions 50 min apart). The motor threshold is ``--threshold-from``
(LAST: the last one journaled for this stimulator; or a value), else DEMO_THRESHOLD.
"""

from __future__ import annotations

import pytest

from harness.config import ConfigError
from harness.protocol.plan import ProtocolRefused
from harness.protocol.runner import deliver_protocol
from harness.protocol.schema import Protocol, abridged, available, load_protocol
from harness.protocol.threshold import NoThreshold, Threshold, resolve_threshold

# A motor threshold the Rapid² + D70 spec can dose every protocol from: at 33 %MSO,
# iTBS at 80 % and the accelerated day at 90 % (26 and 30 %MSO) stay within the
# 50 Hz the spec allows up to 30 %MSO.
DEMO_THRESHOLD = 33.0
# make demo: the first pulses of each short protocol (one train or a few bursts, 2-4 s of
# device time each at world speed 1: make demo stays under 2 min); the rest, and the
# schedule of many trains, under --run-slow (and tests/integration/test_protocol_cli.py).
DEMO_PULSES = {"10hz-fda": 40, "1hz": 3, "itbs": 30, "ctbs": 30}


def _threshold(request: pytest.FixtureRequest, session) -> Threshold:
    try:
        return resolve_threshold(
            request.config.getoption("--threshold-from"),
            session.journal_path,
            session.tags().get("stimulator_serial", ""),
            DEMO_THRESHOLD,
        )
    except (ValueError, NoThreshold) as err:
        pytest.fail(f"--threshold-from: {err}", pytrace=False)


def _load(name: str) -> Protocol:
    try:
        return load_protocol(available()[name])
    except ConfigError as err:  # one line per problem, no traceback
        pytest.fail(str(err), pytrace=False)


def _deliver(request, session, rig, measure, scale, proto: Protocol, full: int | None):
    threshold = _threshold(request, session)
    try:
        result = deliver_protocol(session, rig, measure, proto, threshold,
                                  test_id=request.node.nodeid, host_scale=scale,
                                  full_pulses=full)
    except ProtocolRefused as err:
        if err.needs_trigger:  # a bench fact, like a missing capability
            pytest.skip(str(err))
        pytest.fail(str(err), pytrace=False)
    return result


@pytest.mark.protocol
@pytest.mark.needs("trains")
@pytest.mark.parametrize("name", sorted(DEMO_PULSES))
def test_protocol_first_pulses(
    name, request, tmsbench_session, rig, measure, host_latency_scale
) -> None:
    proto = _load(name)
    short = abridged(proto, DEMO_PULSES[name])
    result = _deliver(request, tmsbench_session, rig, measure, host_latency_scale, short,
                      proto.pulses)
    assert result.pulses_delivered <= short.pulses


@pytest.mark.slow
@pytest.mark.protocol
@pytest.mark.needs("trains")
@pytest.mark.parametrize("name", sorted(available()))
def test_protocol_full(name, request, tmsbench_session, rig, measure, host_latency_scale) -> None:
    proto = _load(name)
    _deliver(request, tmsbench_session, rig, measure, host_latency_scale, proto, None)


def _refused_sends_nothing(session, rig, measure, sim_world, request, name: str,
                           threshold: float, match: str) -> None:
    proto = load_protocol(available()[name])
    fired, alive = len(sim_world.pulses), sim_world.armed
    with pytest.raises(ProtocolRefused, match=match):
        deliver_protocol(session, rig, measure, proto, Threshold(threshold, "value"),
                         test_id=request.node.nodeid)
    assert len(sim_world.pulses) == fired, "the simulated unit fired"
    assert not sim_world.armed and not alive, "the simulated unit was armed"


@pytest.mark.protocol
@pytest.mark.needs("trains")
def test_protocol_beyond_the_rate_limit_is_refused(spec, tmsbench_session, rig, measure,
                                                   sim_world, request) -> None:
    """iTBS dosed from a threshold whose 80 % needs more than the spec's rate at 50 Hz."""
    # the lowest %MSO at which the spec allows less than 50 Hz, from the spec's table
    pct = next((p for p in range(1, 81) if (spec.limits.max_rate_hz(p) or 1e9) < 50), None)
    if pct is None:
        pytest.skip("the spec allows 50 Hz at every intensity iTBS reaches (80 % of 100)")
    _refused_sends_nothing(tmsbench_session, rig, measure, sim_world, request, "itbs",
                           pct / 0.8, rf"rate at {pct} %MSO 50 Hz is above the max")


@pytest.mark.protocol
@pytest.mark.needs("trains")
def test_protocol_beyond_the_intensity_limit_is_refused(spec, tmsbench_session, rig, measure,
                                                        sim_world, request) -> None:
    """The 10 Hz protocol (120 % MT) dosed from a threshold above the spec's maximum / 1.2."""
    top = spec.limits.intensity_max_percent
    threshold = (top + 2) / 1.2  # 120 % of it rounds to top + 2
    _refused_sends_nothing(tmsbench_session, rig, measure, sim_world, request, "10hz-fda",
                           threshold, rf"{top + 2:g} %MSO is above the maximum {top:g} %MSO")
