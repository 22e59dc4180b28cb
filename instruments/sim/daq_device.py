"""The simulated NI DAQ device behind :mod:`instruments.sim.daq_server`.

Pure device model, no gRPC: tasks, virtual channels, the sample clock and
what each terminal sees of the shared :class:`~instruments.sim.world.World`.
Errors are :class:`NiError` with real NI-DAQmx error codes; the server turns
them into the NI gRPC error convention.

Wiring of the simulated device (from the bench file's ``[daq.channels]``):

- ``ai_voltage`` -> HV divider on the stimulator capacitor
  (``world.capacitor_trace / scale``), or an E-field probe when its units are
  ``V/m`` (E at 2 cm / ``scale``); other AI terminals read 1 mV rms noise.
- ``thermocouple`` -> coil temperature (°C). With the ``thermocouple_open``
  fault the channel reads the top of the type's range (type K: 1372 °C), the
  way an NI thermocouple module with open-thermocouple detection rails
  high, and the read attribute "open thermocouple channels exist" is set.
- ``counter`` -> the stimulator's trigger-out (one edge per ``world.pulses``
  event, also when no current flowed).
- ``di`` -> the stimulator's armed status; ``do`` -> a latch kept here.
- every ``PFI`` terminal is the stimulator's trigger-out (start triggers).

All sample times are on the world clock: sample ``k`` of a task whose first
sample is at world time ``t0`` is taken at ``t0 + k/rate``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from nidaqmx.constants import (
    AcquisitionType,
    ChannelType,
    CountDirection,
    Edge,
    FillMode,
    UsageTypeAI,
    UsageTypeCI,
)

from instruments.daq.settings import DaqSettings
from instruments.sim.world import PulseEvent, World

FloatArray = npt.NDArray[np.float64]

# Real NI-DAQmx error codes (nidaqmx.error_codes.DAQmxErrors).
INVALID_DEVICE_ID = -200220
PHYSICAL_CHAN_DOES_NOT_EXIST = -200170
INVALID_ATTRIBUTE_VALUE = -200077  # sample clock rate above the device maximum
SAMPLES_NOT_YET_AVAILABLE = -200284  # read timeout
DUPLICATE_TASK = -200089
INVALID_TASK = -200088
ATTR_NOT_SUPPORTED = -200197
NO_CHANS_IN_TASK = -200478
INVALID_PHYS_CHAN_TYPE = -200430
FUNCTION_NOT_SUPPORTED_FOR_DEVICE = -209876
ATTRIBUTE_NOT_SUPPORTED_IN_TASK_CONTEXT = -200452

DRIVER_VERSION = (25, 5, 0)  # what the simulated "NI-DAQmx" reports (major, minor, update)
AI_TERMINALS = 16
COUNTERS = 4
LINES_PER_PORT = {0: 8, 1: 8, 2: 8}
MAX_AI_RATE_HZ = 1_250_000.0  # aggregate, like an X Series card
MAX_TC_RATE_HZ = 1_200.0  # aggregate, like a 24-bit thermocouple module
OTHER_AI_NOISE_V = 1e-3
TC_NOISE_C = 0.02
EFIELD_WINDOW_S = 2e-3  # a pulse's E-field is over well within 2 ms
NOISE_BANK = 1 << 20  # Gaussian samples drawn once; reads take random slices (10x cheaper)
# Open thermocouple: the reading rails at the top of the type's range (°C).
TC_RAIL_C = {"B": 1820.0, "E": 1000.0, "J": 1200.0, "K": 1372.0, "N": 1300.0,
             "R": 1768.0, "S": 1768.0, "T": 400.0}  # fmt: skip
TC_TYPE_BY_CODE = {10047: "B", 10055: "E", 10072: "J", 10073: "K", 10077: "N",
                   10082: "R", 10085: "S", 10086: "T"}  # fmt: skip


class NiError(Exception):
    """An NI-DAQmx error the device reports: ``code`` is the DAQmx error code."""

    def __init__(self, code: int, message: str, samps_read: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.samps_read = samps_read


@dataclass
class SimChannel:
    """One virtual channel of a task."""

    name: str
    physical: str  # "SimDev1/ai0" (no leading slash)
    chan_type: ChannelType
    meas_type: int  # UsageTypeAI/CI value, 0 for digital
    signal: str  # cap_voltage | efield | noise | coil_temp | trigger_count | armed | latch
    scale: float = 1.0
    tc_type: str = "K"
    min_val: float = -10.0
    max_val: float = 10.0
    initial_count: int = 0
    count_down: bool = False


@dataclass
class SimTask:
    """One DAQmx task on the simulated device."""

    name: str
    channels: list[SimChannel] = field(default_factory=list)
    rate_hz: float | None = None  # None: on-demand (software timed)
    mode: AcquisitionType = AcquisitionType.FINITE
    samps_per_chan: int = 1000
    trigger: str | None = None  # start trigger terminal
    running: bool = False
    t0: float | None = None  # world time of the first sample (None: waiting for trigger)
    armed_at: float = 0.0  # world time the task started (trigger armed)
    position: int = 0  # samples per channel read so far
    first_samp_timestamp: bool = False
    open_tc_latched: list[str] = field(default_factory=list)


def _flatten(names: str) -> list[str]:
    """``"Dev1/ai0:2, Dev1/ai5"`` -> ``["Dev1/ai0", "Dev1/ai1", "Dev1/ai2", "Dev1/ai5"]``."""
    out: list[str] = []
    for part in (p.strip().lstrip("/") for p in names.split(",")):
        if not part:
            continue
        m = re.fullmatch(r"(.*?)(\d+):(\d+)", part)
        if m:
            lo, hi = int(m.group(2)), int(m.group(3))
            step = 1 if hi >= lo else -1
            out.extend(f"{m.group(1)}{i}" for i in range(lo, hi + step, step))
        else:
            out.append(part)
    return out


class SimDaqDevice:
    """The simulated DAQ card: tasks and their channels, fed by ``world``."""

    def __init__(self, world: World, config: DaqSettings) -> None:
        self.world = world
        self.config = config
        self.name = config.device
        self.lock = threading.RLock()
        self.tasks: dict[str, SimTask] = {}
        self.do_lines: dict[str, bool] = {}
        self.stopping = threading.Event()
        self._unnamed = 0
        self._rng = np.random.default_rng(world.sim.seed + 0xDA0)
        self._bank: FloatArray | None = None
        self._wiring = {c.physical.lstrip("/").lower(): c for c in config.channels.values()}
        # Thermal anchor: temperature history is replayed from here and the pulse records.
        now = world.clock.now()
        self._thermal_anchor = (now, world.coil_temperature_C(now))

    # ------------------------------------------------------------ tasks
    def create_task(self, name: str, must_be_new: bool, must_exist: bool) -> tuple[SimTask, bool]:
        """Create (or attach to) a task; returns it and whether it is new."""
        with self.lock:
            if not name:
                name = f"_unnamedTask<{self._unnamed}>"
                self._unnamed += 1
            if name in self.tasks:
                if must_be_new:
                    raise NiError(
                        DUPLICATE_TASK, f"Task name conflicts with an existing task {name}"
                    )
                return self.tasks[name], False
            if must_exist:
                raise NiError(INVALID_TASK, f"Task specified is invalid or does not exist: {name}")
            task = SimTask(name)
            self.tasks[name] = task
            return task, True

    def task(self, name: str) -> SimTask:
        with self.lock:
            try:
                return self.tasks[name]
            except KeyError:
                raise NiError(
                    INVALID_TASK, f"Task specified is invalid or does not exist: {name!r}"
                ) from None

    def clear_task(self, name: str) -> None:
        with self.lock:
            self.tasks.pop(name, None)

    # ------------------------------------------------------------ channels
    def _terminal(self, physical: str, kind: str) -> tuple[str, str]:
        """Validate ``Dev/terminal`` for ``kind`` (ai|ctr|line); return (physical, terminal)."""
        dev, _, term = physical.partition("/")
        if self.world.faults.daq_device_missing or dev.lower() != self.name.lower():
            raise NiError(
                INVALID_DEVICE_ID,
                f"Device identifier is invalid.\nDevice Specified: {dev}\n"
                f"Suggested Device(s): {'' if self.world.faults.daq_device_missing else self.name}",
            )
        term = term.lower()
        ok = False
        if kind == "ai":
            m = re.fullmatch(r"ai(\d+)", term)
            ok = m is not None and int(m.group(1)) < AI_TERMINALS
        elif kind == "ctr":
            m = re.fullmatch(r"ctr(\d+)", term)
            ok = m is not None and int(m.group(1)) < COUNTERS
        elif kind == "line":
            m = re.fullmatch(r"port(\d+)/line(\d+)", term)
            ok = m is not None and LINES_PER_PORT.get(int(m.group(1)), 0) > int(m.group(2))
        if not ok:
            raise NiError(
                PHYSICAL_CHAN_DOES_NOT_EXIST,
                f"Physical channel specified does not exist on this device.\n"
                f"Physical Channel Name: {term}\nDevice: {dev}",
            )
        return f"{self.name}/{term}", term

    def _add(self, task: SimTask, chans: list[SimChannel], kind: ChannelType) -> None:
        with self.lock:
            if task.channels and task.channels[0].chan_type != kind:
                raise NiError(
                    INVALID_PHYS_CHAN_TYPE,
                    "Channels of different types cannot be in one task "
                    f"(task {task.name} has {task.channels[0].chan_type.name}).",
                )
            task.channels.extend(chans)

    def add_ai(
        self,
        task: SimTask,
        physical: str,
        names: str,
        min_val: float,
        max_val: float,
        thermocouple_type: int | None = None,
    ) -> None:
        """Add AI voltage channels, or thermocouple channels when ``thermocouple_type`` is set."""
        phys = _flatten(physical)
        given = _flatten(names) if names else []
        chans = []
        for i, p in enumerate(phys):
            full, _ = self._terminal(p, "ai")
            wire = self._wiring.get(full.lower())
            if thermocouple_type is not None:
                tc = TC_TYPE_BY_CODE.get(thermocouple_type, "K")
                signal, meas, scale = "coil_temp", UsageTypeAI.TEMPERATURE_THERMOCOUPLE.value, 1.0
            else:
                tc, meas = "K", UsageTypeAI.VOLTAGE.value
                signal, scale = "noise", 1.0
                if wire is not None and wire.kind == "ai_voltage":
                    signal = "efield" if "V/m" in wire.units else "cap_voltage"
                    scale = wire.scale
            name = given[i] if i < len(given) else (f"{given[0]}{i}" if given else full)
            chans.append(
                SimChannel(
                    name, full, ChannelType.ANALOG_INPUT, meas, signal, scale, tc, min_val, max_val
                )
            )
        self._add(task, chans, ChannelType.ANALOG_INPUT)

    def add_counter(
        self, task: SimTask, counter: str, name: str, initial: int, direction: int
    ) -> None:
        full, _ = self._terminal(_flatten(counter)[0], "ctr")
        ch = SimChannel(
            name or full,
            full,
            ChannelType.COUNTER_INPUT,
            UsageTypeCI.COUNT_EDGES.value,
            "trigger_count",
            initial_count=initial,
            count_down=direction == CountDirection.COUNT_DOWN.value,
        )
        self._add(task, [ch], ChannelType.COUNTER_INPUT)

    def add_lines(self, task: SimTask, lines: str, name: str, output: bool) -> None:
        ctype = ChannelType.DIGITAL_OUTPUT if output else ChannelType.DIGITAL_INPUT
        chans = []
        for i, p in enumerate(_flatten(lines)):
            full, _ = self._terminal(p, "line")
            wire = self._wiring.get(full.lower())
            signal = "armed" if (wire is not None and wire.kind == "di") else "latch"
            cname = (f"{name}{i}" if i else name) if name else full
            chans.append(SimChannel(cname, full, ctype, 0, signal))
        self._add(task, chans, ctype)

    # ------------------------------------------------------------ timing
    def cfg_samp_clk(self, task: SimTask, rate: float, mode: int, samps_per_chan: int) -> None:
        with self.lock:
            task.rate_hz = float(rate)
            task.mode = AcquisitionType(mode)
            task.samps_per_chan = int(samps_per_chan)

    def cfg_start_trigger(self, task: SimTask, source: str, edge: int) -> None:
        Edge(edge)  # validates
        term = source.strip().lstrip("/")
        dev, _, pin = term.partition("/")
        if dev.lower() != self.name.lower() or not re.fullmatch(r"pfi\d+", pin.lower()):
            raise NiError(
                -200265 if dev.lower() == self.name.lower() else INVALID_DEVICE_ID,
                f"Invalid trigger source: {source} (the simulated device has /{self.name}/PFIn)",
            )
        with self.lock:
            task.trigger = term

    def start(self, task: SimTask) -> None:
        """Start: check the timing (rate errors are raised here, as DAQmx does at commit)."""
        with self.lock:
            if not task.channels:
                raise NiError(NO_CHANS_IN_TASK, f"Task {task.name} contains no channels.")
            if task.rate_hz is not None and task.channels[0].chan_type == ChannelType.ANALOG_INPUT:
                is_tc = any(c.signal == "coil_temp" for c in task.channels)
                limit = MAX_TC_RATE_HZ if is_tc else MAX_AI_RATE_HZ
                limit /= len(task.channels)
                if task.rate_hz > limit or task.rate_hz <= 0:
                    raise NiError(
                        INVALID_ATTRIBUTE_VALUE,
                        "Requested value is not a supported value for this property.\n"
                        f"Property: SampClk.Rate\nRequested Value: {task.rate_hz:g}\n"
                        f"Maximum Value: {limit:g}\nTask Name: {task.name}",
                    )
            now = self.world.clock.now()
            task.running = True
            task.armed_at = now
            task.position = 0
            task.t0 = None if task.trigger else now

    def stop(self, task: SimTask) -> None:
        with self.lock:
            task.running = False

    # ------------------------------------------------------------ reading
    def _first_sample_time(self, task: SimTask) -> float | None:
        """World time of sample 0: start, or the first trigger-out edge after start."""
        if task.t0 is None and task.trigger is not None:
            now = self.world.clock.now()
            with self.world.lock:
                edges = [e.t_s for e in self.world.pulses if task.armed_at <= e.t_s <= now]
            if edges:
                task.t0 = min(edges)
        return task.t0

    def _wait(self, until_world: float, deadline_wall: float | None) -> bool:
        """Sleep until world time ``until_world``; False if the wall deadline came first."""
        clock = self.world.clock
        while True:
            left = until_world - clock.now()
            if left <= 0:
                return True
            wall = clock.wall_seconds(left)
            if deadline_wall is not None:
                budget = deadline_wall - time.monotonic()
                if budget <= 0:
                    return False
                wall = min(wall, budget)
            if self.stopping.wait(min(wall, 0.05)):
                return False

    def acquire(self, task: SimTask, n: int, timeout_s: float) -> tuple[FloatArray, int]:
        """Block until ``n`` samples per channel exist (world clock); return them.

        Returns ``(data[nchan, n_read], n_read)``; a timeout raises
        -200284 with the number of samples per channel available.
        """
        if not task.running:
            self.start(task)  # DAQmx auto-starts a task on read
        deadline = None if timeout_s < 0 else time.monotonic() + timeout_s
        if task.rate_hz is None:  # on-demand: samples taken now, back to back
            n = max(n, 1)
            return self.samples(task, np.full(n, self.world.clock.now())), n
        finite = task.mode == AcquisitionType.FINITE
        if n < 0:  # READ_ALL_AVAILABLE
            if finite:
                n = task.samps_per_chan - task.position
            else:
                t0 = self._first_sample_time(task)
                avail = 0 if t0 is None else self._acquired(task, t0, self.world.clock.now())
                n = avail - task.position
        if finite and task.position + n > task.samps_per_chan:
            raise NiError(
                -200278,
                f"Attempted to read a sample beyond the final sample acquired "
                f"(position {task.position} + {n} > {task.samps_per_chan}).",
            )
        frozen = self.world.faults.daq_read_timeout
        # Wait for the start trigger, then for the last sample's clock edge.
        t0 = self._first_sample_time(task)
        while t0 is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise NiError(SAMPLES_NOT_YET_AVAILABLE, _timeout_msg(task, 0, n), samps_read=0)
            if self.stopping.wait(0.005):
                raise NiError(SAMPLES_NOT_YET_AVAILABLE, "device server stopped", samps_read=0)
            t0 = self._first_sample_time(task)
        rate = task.rate_hz
        t_end = t0 + (task.position + n) / rate
        if frozen:  # fault: the sample clock stalls; report what was there
            got = max(0, min(n, self._acquired(task, t0, self.world.clock.now()) - task.position))
            self._wait(math.inf, deadline)
            task.position += got
            raise NiError(SAMPLES_NOT_YET_AVAILABLE, _timeout_msg(task, got, n), samps_read=got)
        if not self._wait(t_end, deadline):
            got = max(0, min(n, self._acquired(task, t0, self.world.clock.now()) - task.position))
            task.position += got
            raise NiError(SAMPLES_NOT_YET_AVAILABLE, _timeout_msg(task, got, n), samps_read=got)
        t = t0 + (task.position + np.arange(n, dtype=np.float64)) / rate
        task.position += n
        return self.samples(task, t), n

    @staticmethod
    def _acquired(task: SimTask, t0: float, now: float) -> int:
        assert task.rate_hz is not None
        k = math.floor((now - t0) * task.rate_hz) + 1 if now >= t0 else 0
        return min(k, task.samps_per_chan) if task.mode == AcquisitionType.FINITE else k

    def samples(self, task: SimTask, t: FloatArray) -> FloatArray:
        """Values of every channel of ``task`` at world times ``t``: shape (nchan, len(t))."""
        out = np.empty((len(task.channels), t.size))
        for i, ch in enumerate(task.channels):
            out[i] = self._signal(task, ch, t)
        return out

    def _noise(self, n: int) -> FloatArray:
        """``n`` standard-normal samples: a random slice of a bank drawn once."""
        with self.lock:
            if self._bank is None:
                self._bank = self._rng.standard_normal(NOISE_BANK)
            if n > NOISE_BANK:
                return self._rng.standard_normal(n)
            off = int(self._rng.integers(0, NOISE_BANK - n + 1))
        return self._bank[off : off + n]

    def _signal(self, task: SimTask, ch: SimChannel, t: FloatArray) -> FloatArray:
        w = self.world
        if ch.signal == "cap_voltage":
            sigma = w.noise_fraction * w.sim.stimulator.vmax_V / ch.scale
            v = w.capacitor_trace(t) / ch.scale
            return v + self._noise(t.size) * sigma
        if ch.signal == "efield":
            return self._efield(t) / ch.scale
        if ch.signal == "coil_temp":
            if w.faults.thermocouple_open:
                if ch.name not in task.open_tc_latched:
                    task.open_tc_latched.append(ch.name)
                return np.full(t.size, TC_RAIL_C[ch.tc_type])
            return self._temperature(t) + self._noise(t.size) * TC_NOISE_C
        if ch.signal == "noise":
            return self._noise(t.size) * OTHER_AI_NOISE_V
        raise NiError(FUNCTION_NOT_SUPPORTED_FOR_DEVICE, f"{ch.name} is not an analog channel")

    def _efield(self, t: FloatArray) -> FloatArray:
        out = np.zeros(t.size)
        if t.size == 0:
            return out
        with self.world.lock:
            events: list[PulseEvent] = [
                e for e in self.world.pulses if t[0] - EFIELD_WINDOW_S <= e.t_s <= t[-1]
            ]
        for e in events:
            lo, hi = np.searchsorted(t, [e.t_s, e.t_s + EFIELD_WINDOW_S])
            if hi > lo:
                out[lo:hi] += e.signals(t[lo:hi] - e.t_s)["efield"]
        peak = self.world.v0_for(100.0) / self.world.circuit().inductance_H * 1e-6
        sigma = self.world.noise_fraction * peak * self.world.coil_factor
        return out + self._noise(t.size) * sigma

    def _temperature(self, t: FloatArray) -> FloatArray:
        """Coil temperature (°C) at world times ``t``, replayed from the pulse records.

        Between pulses the coil cools exponentially to ambient, as the world's
        thermal model does (tau = cooling_tau_s / (1 - coil_cooling_degraded)).
        """
        w = self.world
        amb = w.sim.thermal.ambient_C
        tau = w.sim.thermal.cooling_tau_s / (1.0 - w.faults.coil_cooling_degraded)
        t_a, temp_a = self._thermal_anchor
        with w.lock:
            recs = [(e.t_s, e.coil_temperature_C) for e in w.pulses if e.discharged and e.t_s > t_a]
        times = np.array([t_a] + [r[0] for r in recs])
        temps = np.array([temp_a] + [r[1] for r in recs])
        k = np.clip(np.searchsorted(times, t, side="right") - 1, 0, None)
        return np.asarray(amb + (temps[k] - amb) * np.exp(-(t - times[k]) / tau), dtype=np.float64)

    def read_counter(self, task: SimTask) -> int:
        """Edges counted since the task started (trigger-out pulses on the world clock)."""
        if not task.running:
            self.start(task)
        ch = task.channels[0]
        now = self.world.clock.now()
        with self.world.lock:
            n = sum(1 for e in self.world.pulses if task.armed_at <= e.t_s <= now)
        count = ch.initial_count - n if ch.count_down else ch.initial_count + n
        return count % (1 << 32)

    def read_lines(self, task: SimTask) -> list[bool]:
        if not task.running:
            self.start(task)
        out = []
        for ch in task.channels:
            if ch.signal == "armed":
                out.append(self.world.armed)
            else:
                out.append(self.do_lines.get(ch.physical, False))
        return out

    def write_lines(self, task: SimTask, values: list[bool]) -> None:
        if not task.running:
            self.start(task)
        for ch, v in zip(task.channels, values, strict=False):
            self.do_lines[ch.physical] = bool(v)


def _timeout_msg(task: SimTask, got: int, wanted: int) -> str:
    return (
        "Some or all of the samples requested have not yet been acquired.\n"
        f"Task Name: {task.name}\nSamples read per channel: {got} of {wanted}"
    )


def interleave(data: FloatArray, fill_mode: int) -> FloatArray:
    """Flatten (nchan, n) per DAQmx fill mode: by channel (rows) or by scan (columns)."""
    if fill_mode == FillMode.GROUP_BY_SCAN_NUMBER.value:
        return np.ascontiguousarray(data.T).ravel()
    return data.ravel()
