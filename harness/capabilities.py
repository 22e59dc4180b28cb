"""What a bench can do, and why a test that needs more is skipped.

A bench test declares what it needs with ``@pytest.mark.needs("trains", ...)``; the
plugin asks :func:`missing` before the test runs and skips it with the reason, so a
device that lacks a capability (a Magstim 200² delivers no trains) or a bench that
lacks a channel is reported as "not applicable", never as a failure.

Capabilities:

- ``trains``: repetitive trains (the device model's documented ability).
- ``paired_pulses``: two pulses at a set interval from one command.
- ``coil_temperature``: a thermocouple channel on the bench's DAQ.
- ``efield``: an E-field (or dB/dt) input on the scope.
- ``emg``: an EMG input on the DAQ (``ai_voltage`` channel in µV) and its trigger input.
- ``subject``: a simulated subject (``[sim.subject]``) whose true motor threshold is known.
- ``waveform:NAME``: the spec lists waveform NAME.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.config import BenchConfig, SpecConfig
from instruments.stimulator.models import device_model

KNOWN = ("trains", "paired_pulses", "coil_temperature", "efield", "emg", "subject")


def missing(needs: Iterable[str], bench: BenchConfig, spec: SpecConfig) -> str | None:
    """Why the bench cannot run a test that needs ``needs``; ``None`` when it can.

    An unknown capability name is a programming error in the test (``ValueError``).
    A device model nobody described (:func:`device_model` is ``None``) is assumed
    capable: its driver then says what it refuses.
    """
    reasons = [r for need in needs if (r := _lacks(need, bench, spec))]
    return "; ".join(reasons) if reasons else None


def _lacks(need: str, bench: BenchConfig, spec: SpecConfig) -> str | None:
    stim = bench.stimulator
    model = device_model(stim.model)
    who = f"the {stim.driver} {stim.model}"
    source = f" ({'; '.join(model.sources)})" if model and model.sources else ""
    if need == "trains":
        if model is not None and not model.trains:
            return f"needs trains: {who} delivers single pulses only{source}"
        return None
    if need == "paired_pulses":
        if model is not None and not model.paired_pulses:
            return f"needs paired pulses: {who} has no paired-pulse command{source}"
        return None
    if need == "coil_temperature":
        daq = bench.daq
        if daq is None or not any(c.kind == "thermocouple" for c in daq.channels.values()):
            return "needs a coil temperature: the bench has no DAQ thermocouple channel"
        return None
    if need == "efield":
        chans = bench.scope.channels.values() if bench.scope else ()
        if not any(c.quantity in ("efield", "didt") for c in chans):
            return "needs an E-field input: the bench's scope has no efield or didt channel"
        return None
    if need == "emg":
        from harness.motor_threshold import emg_channel

        if emg_channel(bench.daq) is None:
            return 'needs an EMG input: the bench\'s DAQ has no ai_voltage channel in units "uV"'
        assert bench.daq is not None
        if not bench.daq.trigger_in:
            return "needs an EMG trigger: the bench's [daq] names no trigger_in terminal"
        return None
    if need == "subject":
        if bench.sim is None or bench.sim.subject is None:
            return (
                "needs a simulated subject ([sim.subject]): only there is the true motor "
                "threshold known to judge a hunt against"
            )
        return None
    if need.startswith("waveform:"):
        name = need.partition(":")[2]
        if name not in spec.waveforms:
            return f"needs a {name} waveform: the spec lists {', '.join(spec.waveforms)}"
        return None
    known = ", ".join((*KNOWN, "waveform:NAME"))
    raise ValueError(f"needs({need!r}): not a capability (one of {known})")
