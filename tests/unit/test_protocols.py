"""Protocol files, the pre-flight check and the dose verification.

Expected figures are worked out here from the prescriptions as published (pulses,
on/off times), not taken from the code under test.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.dose import DeliveredTrain, verify_dose
from harness.config import ConfigError, load_spec
from harness.protocol.plan import ProtocolRefused, preflight
from harness.protocol.schema import abridged, available, load_protocol

ROOT = Path(__file__).resolve().parents[2]
RAPID2 = load_spec(ROOT / "specs" / "magstim-rapid2-d70.toml")


def proto(name: str):
    return load_protocol(ROOT / "protocols" / f"{name}.toml")


# (pulses, first-to-last pulse in s): 10 Hz: 75 trains every 30 s, the last 39 intervals
# of 0.1 s long; iTBS: 20 trains every 10 s, the last 9 bursts of 0.2 s + 2 x 20 ms;
# cTBS: 199 bursts of 0.2 s + 40 ms; SAINT: 10 x (59 x 10 s + 1.84 s) + 9 x 50 min.
PRESCRIBED = {
    "10hz-fda": (3000, 74 * 30 + 3.9),
    "1hz": (900, 899.0),
    "itbs": (600, 19 * 10 + 9 * 0.2 + 0.04),
    "ctbs": (600, 199 * 0.2 + 0.04),
    "saint-accelerated": (18000, 10 * (59 * 10 + 1.84) + 9 * 3000),
}


def test_every_protocol_file_is_shipped_and_loads() -> None:
    assert set(available()) == set(PRESCRIBED)
    for name, (pulses, duration) in PRESCRIBED.items():
        p = proto(name)
        assert p.name == name and p.version and len(p.source) > 20
        assert p.pulses == pulses
        assert p.duration_s == pytest.approx(duration)


def test_intensity_from_threshold_rounds_half_up() -> None:
    # 90 % of 35 = 31.5 -> 32 %MSO; 120 % of 33 = 39.6 -> 40; 80 % of 33 = 26.4 -> 26
    assert proto("saint-accelerated").intensity_percent(35) == 32
    assert proto("10hz-fda").intensity_percent(33) == 40
    assert proto("itbs").intensity_percent(33) == 26


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("[pattern]\nrate_hz = -1\npulses = 40",
         "pattern.rate_hz: Input should be greater than 0 (got -1)"),
        ("[pattern]\nrate_hz = 50\npulses = 3\nbursts = 10",
         "pattern: burst_rate_hz: missing (required with bursts = 10)"),
        ("[pattern]\nrate_hz = 10\npulses = 40\ntrains = 75",
         "pattern: inter_train_interval_s: must be > 0 with trains = 75 (got 0)"),
        ("[pattern]\nrate_hz = 10\npulses = 40\nspeed = 3",
         "pattern.speed: unknown key (not part of this file's schema)"),
        ("[pattern]\nrate_hz = 50\npulses = 3\nbursts = 10\nburst_rate_hz = 30",
         "pattern: burst_rate_hz: 30 Hz leaves no gap after a burst of 3 pulses at 50 Hz"),
    ],
)
def test_bad_protocol_file_names_file_field_and_value(tmp_path: Path, body: str,
                                                      line: str) -> None:
    f = tmp_path / "bad.toml"
    head = 'name = "bad"\nversion = "1"\nsource = "a reference, 2020"\nintensity_percent_mt = 100\n'
    f.write_text(head + body)
    with pytest.raises(ConfigError) as err:
        load_protocol(f)
    assert str(err.value).splitlines()[0].startswith(f"{f}: {line}")


def test_plan_of_the_10hz_protocol() -> None:
    plan = preflight(proto("10hz-fda"), 33, RAPID2)
    assert plan.intensity_percent == 40
    assert len(plan.steps) == 75
    assert [s.start_s for s in plan.steps[:3]] == pytest.approx([0, 30, 60])
    assert plan.steps[0].train.rate_hz == 10 and plan.steps[0].train.pulses == 40


def test_accelerated_day_is_disarmed_between_sessions() -> None:
    plan = preflight(proto("saint-accelerated"), 33, RAPID2, can_trigger=True)
    firsts = [s for s in plan.steps if s.index == 0]
    assert len(firsts) == 10
    # session 2 starts after session 1's last pulse (591.84 s) and 50 min
    assert firsts[1].start_s == pytest.approx(591.84 + 3000)
    assert firsts[1].rest_before_s == 3000 and firsts[0].rest_before_s == 0
    assert all(s.hardware_timed for s in plan.steps)


@pytest.mark.parametrize(
    ("name", "threshold", "kw", "match"),
    [
        # 120 % of 90 = 108 %MSO: above the spec's 100 %MSO
        ("10hz-fda", 90, {}, r"intensity \(120 % of a 90 %MSO motor threshold\) 108 %MSO is "
                             r"above the maximum 100 %MSO"),
        # 80 % of 40 = 32 %MSO: the Rapid² spec allows 30 Hz above 30 %MSO, not 50
        ("itbs", 40, {"can_trigger": True}, r"rate at 32 %MSO 50 Hz is above the maximum 30 Hz"),
        # a 160 ms gap between bursts cannot be host-timed (spec: 0.5 s between trains)
        ("itbs", 33, {}, r"gap between bursts 0\.16 s is below the minimum inter-train "
                         r"interval 0\.5 s .* no DAQ-timed trigger"),
        ("1hz", 33, {"coil_temperature_C": 40.0}, r"coil temperature 40\.0 °C is not below"),
    ],
)
def test_preflight_refuses_with_the_limit(name, threshold, kw, match) -> None:
    with pytest.raises(ProtocolRefused, match=match) as err:
        preflight(proto(name), threshold, RAPID2, **kw)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"protocol {name} v1 refused before the first")
    assert err.value.needs_trigger == ("DAQ-timed" in text)


def test_abridged_keeps_the_pattern() -> None:
    short = abridged(proto("itbs"), 60)
    assert short.pulses == 60 and short.pattern.trains == 2
    assert short.pattern.rate_hz == 50 and short.pattern.inter_train_interval_s == 8
    one = abridged(proto("1hz"), 5)
    assert one.pulses == 5 and one.duration_s == pytest.approx(4.0)


# ---------------------------------------------------------------- dose verification

def _itbs_rx():
    plan = preflight(abridged(proto("itbs"), 60), 33, RAPID2, can_trigger=True)
    return plan.prescription(RAPID2)


def _itbs_train(start: float, didt: float) -> DeliveredTrain:
    # 10 bursts, 200 ms apart, of 3 pulses 20 ms apart: written out, not from the code
    t = np.array([b * 0.2 + k * 0.02 for b in range(10) for k in range(3)])
    return DeliveredTrain(start, t, 30, 30, 30, np.full(30, didt), 24.0)


def _by_name(result):
    return {c.name: c for c in result.checks}


def test_a_delivery_as_prescribed_passes() -> None:
    rx = _itbs_rx()
    expected = 114.7 * 26 / 100  # the Rapid² spec's line at 26 %MSO
    assert rx.expected_didt_A_per_us == pytest.approx(expected)
    res = verify_dose(rx, [_itbs_train(0.0, expected), _itbs_train(10.0, expected)])
    assert res.passed, [c for c in res.checks if not c.passed]
    c = _by_name(res)
    assert c["pulses seen by the scope"].value == 60
    assert c["total duration"].value == pytest.approx(10 + 1.84)
    assert c["burst rate error (worst train)"].value == pytest.approx(0.0, abs=1e-9)
    assert res.pulses_delivered == 60 and len(res.trains) == 2


def test_a_missing_pulse_fails_naming_train_and_burst() -> None:
    rx = _itbs_rx()
    e = rx.expected_didt_A_per_us
    full = _itbs_train(10.0, e)
    keep = np.ones(30, bool)
    keep[3 * 3 + 1] = False  # the 2nd pulse of burst 4
    short = replace(full, times_s=full.times_s[keep], n_scope=29, n_daq=29, n_valid=29,
                    didt_A_per_us=full.didt_A_per_us[keep])
    res = verify_dose(rx, [_itbs_train(0.0, e), short])
    failed = {c.name for c in res.checks if not c.passed}
    assert "pulses in train 2 of 2 (burst 4: 2 of 3 pulses)" in failed
    assert {"pulses seen by the scope", "valid pulse records",
            "trains with the prescribed pulses"} <= failed


def test_off_intensity_late_and_hot_deliveries_fail() -> None:
    rx = _itbs_rx()
    e = rx.expected_didt_A_per_us
    low = _itbs_train(10.0, e)
    didt = low.didt_A_per_us.copy()
    didt[7] = e * 0.93  # 7 % low: outside the spec's ±5 %
    res = verify_dose(rx, [_itbs_train(0.0, e), replace(low, didt_A_per_us=didt)])
    assert _by_name(res)["pulses outside the dI/dt tolerance"].value == 1
    late = verify_dose(rx, [_itbs_train(0.0, e), _itbs_train(10.5, e)])
    assert not _by_name(late)["train start deviation (worst train)"].passed
    assert not _by_name(late)["total duration"].passed
    hot = verify_dose(rx, [_itbs_train(0.0, e), replace(_itbs_train(10.0, e),
                                                         max_temperature_C=41.0)])
    assert not _by_name(hot)["coil temperature (highest)"].passed


# ---------------------------------------------------------------- the schedule

class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def sleep(self, s: float) -> None:
        assert s > 0
        self.t += s


class _Rig:
    """Stands in for BenchRig: logs arming and trains; a train takes its span + 0.7 s."""

    def __init__(self, clock: _Clock) -> None:
        from types import SimpleNamespace

        self.clock, self.log = clock, []
        self.lines: list[str] = []
        self.progress = self.lines.append
        self.stimulator = SimpleNamespace(wall=lambda s: s)

    def arm(self, percent: float) -> None:
        self.log.append(("arm", self.clock.t, percent))

    def close(self) -> None:
        self.log.append(("close", self.clock.t))

    def _train(self, how: str, **kw):
        from types import SimpleNamespace

        self.log.append((how, self.clock.t, kw))
        n = kw["pulses"] * kw["trains"]
        times = np.array([b * 0.2 + k / kw["rate_hz"] for b in range(kw["trains"])
                          for k in range(kw["pulses"])])
        self.clock.t += float(times[-1]) + 0.7
        return SimpleNamespace(times_s=times, n_scope=n, n_daq=n, n_valid=n, pulses=None,
                               max_coil_temperature_C=None, temperature_after=25.0)

    def train(self, **kw):
        return self._train("train", **kw)

    def triggered_train(self, **kw):
        return self._train("triggered", **kw)


def test_trains_start_on_schedule_and_sessions_are_disarmed_between() -> None:
    from harness.protocol.runner import Delivery, deliver

    clock = _Clock()
    rig = _Rig(clock)
    plan = preflight(proto("saint-accelerated"), 33, RAPID2, can_trigger=True)
    d = deliver(rig, Delivery(plan), now_s=lambda: clock.t, sleep=clock.sleep,
                triggered=rig.triggered_train)
    trains = [e for e in rig.log if e[0] != "arm" and e[0] != "close"]
    assert {e[0] for e in trains} == {"triggered"} and len(trains) == 600
    t0 = trains[0][1]
    # session s, train k starts at s x (59 x 10 s + 1.84 s + 50 min) + k x 10 s
    want = [s * (59 * 10 + 1.84 + 3000) + k * 10 for s in range(10) for k in range(60)]
    assert [e[1] - t0 for e in trains] == pytest.approx(want)
    assert trains[0][2] == {"rate_hz": 50, "pulses": 3, "percent": 30, "trains": 10,
                            "iti_s": pytest.approx(0.16)}
    # one progress line per train, with the rest the schedule gives: 8.16 s after a
    # 1.84 s train, 50 min after a session's last
    assert len(rig.lines) == 600
    assert rig.lines[0].startswith("train 1/600 at 50 Hz: 10 × 3 pulses in 1.84 s, 30 valid; "
                                   "next in 8 s")
    assert "train 60/600" in rig.lines[59] and "next in 50 min" in rig.lines[59]
    assert rig.lines[-1].endswith("; last")
    closes = [e for e in rig.log if e[0] == "close"]
    arms = [e for e in rig.log if e[0] == "arm"]
    assert len(closes) == 9 and len(arms) == 10  # armed before each session, 5 s ahead
    assert arms[1][1] - t0 == pytest.approx(want[60] - 5.0)
    assert closes[0][1] < arms[1][1]
    res = verify_dose(plan.prescription(RAPID2), d.trains)
    by = _by_name(res)
    assert by["train start deviation (worst train)"].passed
    assert by["total duration"].value == pytest.approx(proto("saint-accelerated").duration_s)


def test_a_delivery_cut_short_is_judged_recorded_and_disarmed() -> None:
    from types import SimpleNamespace

    from harness.protocol.runner import run_protocol

    clock = _Clock()
    rig = _Rig(clock)
    real = rig._train

    def breaks_on_third(how: str, **kw):
        if sum(e[0] == "train" for e in rig.log) == 2:
            raise RuntimeError("link lost")
        return real(how, **kw)

    rig._train = breaks_on_third  # type: ignore[method-assign]
    rig.stimulator.sleep = clock.sleep
    rows, measured = [], []
    session = SimpleNamespace(
        spec=RAPID2, now_ns=lambda: int(clock.t * 1e9), tags=lambda: {"station": "s"},
        context=SimpleNamespace(run_id="run-1"), record_rows=rows.extend)
    plan = preflight(proto("10hz-fda"), 33, RAPID2)
    with pytest.raises(RuntimeError, match="link lost"):
        run_protocol(session, rig, lambda *a, **k: measured.append(a), plan, test_id="t")
    assert rig.log[-1][0] == "close"  # disarmed before judging
    (row,) = rows
    assert row.kind == "dose" and dict(row.tags)["verdict"] == "fail"
    assert row.data["trains_delivered"] == 2 and row.data["pulses_delivered"] == 80
    assert row.data["pulses_prescribed"] == 3000
    by = {a[0]: a[1] for a in measured}
    assert by["10hz-fda: trains delivered"] == 2
    assert by["10hz-fda: trains with the prescribed pulses"] == 2  # of 75
