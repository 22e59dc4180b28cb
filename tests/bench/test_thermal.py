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
    # The rise and the τ uncertainty say whether the check could be made; they are
    # recorded, and a check that could not be made is INVALID (no verdict), never FAIL.
    measure(
        f"coil temperature rise from {cap.heating_pulses} pulses at {th.heating_percent:g} %MSO",
        r.rise_K,
        "K",
        heating_trains=len(cap.heating),
    )
    measure("coil cooling time constant uncertainty", r.tau_uncertainty_percent, "%")
    why = r.invalid_reason
    if not why and not r.tau_uncertainty_percent <= th.tau_uncertainty_max_percent:
        why = (
            f"time constant uncertainty {r.tau_uncertainty_percent:.1f} % is above "
            f"{th.tau_uncertainty_max_percent:g} % (rise {r.rise_K:.2f} K)"
        )
    measure(
        "coil cooling time constant",
        None if why else r.tau_s,
        "s",
        Limits(high=th.cooling_tau_max_s),
        **(
            {"invalid_reason": why, "estimate_s": r.tau_s}
            if why
            else {"ambient_C": round(r.ambient_C, 2)}
        ),
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
