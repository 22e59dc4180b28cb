"""Coil heating during a train, its cooling rate, and the device's own over-temperature cutoff."""

from __future__ import annotations

import pytest

from harness.limits import Limits


@pytest.mark.needs("trains", "coil_temperature")
def test_coil_heating_during_train(spec, train, measure) -> None:
    cap = train(rate_hz=10.0, pulses=40, percent=60)
    if cap.temperature_before is None:
        pytest.skip("the bench has no coil temperature channel")
    limit = spec.limits.coil_temperature_max_C
    rise = cap.temperature_after - cap.temperature_before
    measure(
        "coil temperature after 40 pulses at 60 %MSO",
        cap.temperature_after,
        "°C",
        Limits(high=limit),
    )
    measure("coil temperature rise", rise, "K", Limits(low=0.0))


@pytest.mark.needs("trains", "coil_temperature")
def test_coil_cooling_rate(spec, rig, measure) -> None:
    """The coil sheds heat fast enough: Newton cooling time constant against the spec."""
    from harness.cooling import NoTemperatureChannel, measure_cooling

    th = spec.thermal
    if th.cooling_tau_max_s is None:
        pytest.skip("the spec sets no thermal.cooling_tau_max_s")
    try:
        cap = measure_cooling(rig, th)
    except NoTemperatureChannel as exc:
        pytest.skip(str(exc))
    r = cap.result
    measure.figure("coil temperature before and after the heating train", cap.figure)
    measure(
        f"coil temperature rise from {th.heating_pulses} pulses at {th.heating_percent:g} %MSO",
        r.rise_K,
        "K",
        Limits(low=th.min_rise_K),
    )
    reason = {"invalid_reason": r.invalid_reason} if r.invalid_reason else {}
    measure(
        "coil cooling time constant uncertainty",
        r.tau_uncertainty_percent,
        "%",
        Limits(high=th.tau_uncertainty_max_percent),
        **reason,
    )
    measure(
        "coil cooling time constant",
        r.tau_s,
        "s",
        Limits(high=th.cooling_tau_max_s),
        **(reason or {"ambient_C": round(r.ambient_C, 2)}),
    )


@pytest.mark.destructive
def test_over_temperature_cutoff(spec, stimulator, sim_world, measure) -> None:
    """Above its cutoff the device refuses to stay armed (simulated bench: heat forced)."""
    from instruments.stimulator import StimulatorError

    cutoff = sim_world.sim.thermal.cutoff_C
    sim_world.set_coil_temperature(cutoff + 2.0)
    try:
        stimulator.set_intensity(20)
        stimulator.arm()
    except StimulatorError:
        pass  # refusing to arm is a correct answer too
    stimulator.sleep(1.0)
    status = stimulator.status()
    measure("armed above the cutoff", float(status.armed), "", Limits(high=0.0, low=0.0))
    sim_world.set_coil_temperature(sim_world.sim.thermal.ambient_C)
