"""The simulated NI DAQ device behind :mod:`instruments.sim.daq_server`.

Pure device model, no gRPC: tasks, virtual channels, the sample clock and
what each terminal sees of the shared :class:`~instruments.sim.world.World`.
Errors are :class:`NiError` with real NI-DAQmx error codes; the server turns
them into the NI gRPC error convention.

Wiring of the simulated device (from the bench file's ``[daq.channels]``):

- ``ai_voltage`` -> HV divider on the stimulator capacitor
  (``world.capacitor_trace / scale``), or an E-field probe when its units are
  ``V/m`` (E at 2 cm / ``scale``); other AI terminals read 1 mV rms noise.
- ``ai_voltage`` with units ``uV`` -> an EMG amplifier on the subject's hand muscle
  (:mod:`instruments.sim.emg`: MEP after each pulse, plus amplifier noise; volts at the
  card = µV / ``scale``).
- ``thermocouple`` -> coil temperature (°C). With the ``thermocouple_open``
  fault the channel reads the top of the type's range (type K: 1372 °C), the
  way an NI thermocouple module with open-thermocouple detection rails
  high, and the read attribute "open thermocouple channels exist" is set.
- ``counter`` -> the stimulator's trigger-out (one edge per ``world.pulses``
  event, also when no current flowed).
- ``di`` -> the stimulator's armed status; ``do`` -> a latch kept here.
- every ``PFI`` terminal is the stimulator's trigger-out (start triggers).
- counter *output* channels (:mod:`instruments.sim.daq_co`) drive their terminal; the
  one the bench wires to the stimulator's trigger input (``[daq] trigger_out``,
  ``trigger_out_term``) puts its rising edges on ``world.trigger_in``. Every edge
  generated is kept in :attr:`SimDaqDevice.generated` (terminal, world time), so tests
  see the card's output apart from what the stimulator made of it.

All sample times are on the world clock: sample ``k`` of a task whose first
sample is at world time ``t0`` is taken at ``t0 + k/rate``.

Channel names follow NI-DAQmx's physical channel syntax (facts and sources in
``instruments/daq/nidaqmx_facts.md``): ranges ``Dev1/ai0:3``, ``Dev1/ai0:Dev1/ai3``
and reversed ``Dev1/ai3:0``; digital ports ``Dev1/port0`` (every line of the
port), port ranges ``Dev1/port0:1``, line ranges ``Dev1/port0/line0:3`` and
device-wide line numbers ``Dev1/line0:23``; comma lists of all of these.
Identifiers are not case sensitive. The card is modelled on an X Series
PCIe-6351 (16 AI, 4 counters, ports 0..2 of 8 lines, PFI0..15 on ports 1 and 2).
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
from instruments.sim.daq_co import (
    CO_TERM_BASE,
    HZ,
    PAL_RESOURCE_RESERVED,
    PULSE_TIME,
    SECONDS,
    CoChannel,
    CoError,
    CoRun,
    CoTaskState,
    check_phase,
    freq_phases,
    pulse_edges,
)
from instruments.sim.emg import EmgSource
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
VIRTUAL_CHAN_NAME_USED = -200171
CHAN_NOT_IN_TASK = -200486
INVALID_RANGE_SYNTAX = -200498  # nidaqmx.utils.unflatten_channel_string raises the same
SAMPLES_NO_LONGER_AVAILABLE = -200279  # continuous buffer overwritten before it was read
SAMPLES_WILL_NEVER_BE_AVAILABLE = -200278
READ_BUFFER_TOO_SMALL = -200229
WAIT_UNTIL_DONE_DOES_NOT_INDICATE_DONE = -200560
INVALID_TRIGGER_SOURCE = -200265  # nidaqmx: INVALID_ANALOG_TRIG_SRC (no digital-source twin)
EVERY_N_ALREADY_REGISTERED = -200966
EVERY_N_TRANSFERRED_NOT_FOR_INPUT = -200965
EVERY_N_INTERVAL_ZERO = -200880

DRIVER_VERSION = (25, 5, 0)  # what the simulated "NI-DAQmx" reports (major, minor, update)
AI_TERMINALS = 16
COUNTERS = 4
LINES_PER_PORT = {0: 8, 1: 8, 2: 8}
MAX_AI_RATE_HZ = 1_250_000.0  # aggregate, like an X Series card
MAX_TC_RATE_HZ = 1_200.0  # aggregate, like a 24-bit thermocouple module
PFI_LINES = 16  # PFI0..7 = port1/line0..7, PFI8..15 = port2/line0..7 (X Series)
# Default counter input terminals of an X Series card (ctr0 counts edges on PFI8).
CI_DEFAULT_TERM = {0: "PFI8", 1: "PFI3", 2: "PFI0", 3: "PFI5"}
AI_VOLTAGE_RANGES = ((-10.0, 10.0), (-5.0, 5.0), (-1.0, 1.0), (-0.2, 0.2))  # X Series 6351
OTHER_AI_NOISE_V = 1e-3
EMG_UNITS = ("uV", "µV")  # an ai_voltage channel in these units is the EMG amplifier
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
    signal: str  # cap_voltage | efield | emg | noise | coil_temp | trigger_count | armed | latch
    scale: float = 1.0
    tc_type: str = "K"
    min_val: float = -10.0
    max_val: float = 10.0
    initial_count: int = 0
    count_down: bool = False
    lines: list[str] = field(default_factory=list)  # digital: the physical lines, in order
    edge: int = Edge.RISING.value  # counter: active edge
    count_term: str = ""  # counter: terminal whose edges are counted (``/Dev/PFIn``)
    description: str = ""
    co: CoChannel | None = None  # counter output: the pulse and its terminal


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
    ref_trigger: tuple[str, int, int] | None = None  # (terminal, edge, pretrigger samples)
    every_n: dict[int, int] = field(default_factory=dict)  # event type -> N samples
    runs: int = 0  # how many times the task was started (event streams restart with it)
    co: CoTaskState = field(default_factory=CoTaskState)  # counter output timing and buffer

    @property
    def buffer_size(self) -> int:
        """Continuous input buffer per channel: ``samps_per_chan`` or the rate's default."""
        rate = self.rate_hz or 0.0
        default = 1_000 if rate <= 100 else 10_000 if rate <= 10_000 else 100_000
        if rate > 1_000_000:
            default = 1_000_000
        return max(self.samps_per_chan, default)


def _flatten(names: str) -> list[str]:
    """``"Dev1/ai0:2, Dev1/ai5"`` -> ``["Dev1/ai0", "Dev1/ai1", "Dev1/ai2", "Dev1/ai5"]``.

    Ranges count up or down (``ai3:0``) and may repeat the prefix
    (``Dev1/ai0:Dev1/ai3``); a leading slash is dropped; a range whose two
    ends have different prefixes is a -200498 syntax error.
    """
    out: list[str] = []
    for part in (p.strip().lstrip("/") for p in names.split(",")):
        if not part:
            continue
        if ":" not in part:
            out.append(part)
            continue
        before, _, after = part.partition(":")
        after = after.strip().lstrip("/")
        m_lo = re.fullmatch(r"(.*?)(\d+)", before.strip())
        m_hi = re.fullmatch(r"(.*?)(\d+)", after)
        if (
            not m_lo
            or not m_hi
            or (m_hi.group(1) and m_hi.group(1).lower() != m_lo.group(1).lower())
        ):
            raise NiError(
                INVALID_RANGE_SYNTAX,
                f"Syntax for a range of objects in the input string is invalid.\nRange: {part}",
            )
        lo, hi = int(m_lo.group(2)), int(m_hi.group(2))
        step = 1 if hi >= lo else -1
        out.extend(f"{m_lo.group(1)}{i}" for i in range(lo, hi + step, step))
    return out


def channel_names(given: str, count: int) -> list[str] | None:
    """Names DAQmx gives ``count`` new virtual channels for ``name_to_assign`` ``given``.

    None: no name given (each channel is named after its physical channel).
    One name for several channels is numbered: ``foo`` -> foo0, foo1, ...;
    ``foo31`` -> foo31, foo32, ...; a list names channels in order, its last
    entry numbering the rest (``a0:3, b`` for 8 channels -> a0..a3, b0..b3).
    """
    names = _flatten(given) if given.strip() else []
    if not names:
        return None
    if len(names) >= count:
        return names[:count]
    head, last = names[:-1], names[-1]
    rest = count - len(head)
    if rest == 1:
        return [*head, last]
    m = re.fullmatch(r"(.*?)(\d+)", last.replace(" ", ""))
    base, start = (m.group(1), int(m.group(2))) if m else (last, 0)
    return [*head, *(f"{base}{start + i}" for i in range(rest))]


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
        self.emg = EmgSource(world)
        self.generated: list[tuple[str, float]] = []  # counter output edges (terminal, world s)
        wired = config.trigger_terminal()
        self._trigger_term = wired.lower() if wired else None
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
            task = self.tasks.pop(name, None)
            if task is not None:
                self.stop(task)  # a cleared generation stops: its later edges never come

    # ------------------------------------------------------------ channels
    def _device(self, dev: str) -> None:
        if self.world.faults.daq_device_missing or dev.lower() != self.name.lower():
            raise NiError(
                INVALID_DEVICE_ID,
                f"Device identifier is invalid.\nDevice Specified: {dev}\n"
                f"Suggested Device(s): {'' if self.world.faults.daq_device_missing else self.name}",
            )

    @staticmethod
    def _no_such_channel(term: str, dev: str) -> NiError:
        return NiError(
            PHYSICAL_CHAN_DOES_NOT_EXIST,
            f"Physical channel specified does not exist on this device.\n"
            f"Physical Channel Name: {term}\nDevice: {dev}",
        )

    def _terminal(self, physical: str, kind: str) -> tuple[str, str]:
        """Validate ``Dev/terminal`` for ``kind`` (ai|ctr); return (physical, terminal)."""
        dev, _, term = physical.partition("/")
        self._device(dev)
        term = term.lower()
        ok = False
        if kind == "ai":
            m = re.fullmatch(r"ai(\d+)", term)
            ok = m is not None and int(m.group(1)) < AI_TERMINALS
        elif kind == "ctr":
            m = re.fullmatch(r"ctr(\d+)", term)
            ok = m is not None and int(m.group(1)) < COUNTERS
        if not ok:
            raise self._no_such_channel(term, dev)
        return f"{self.name}/{term}", term

    def digital_lines(self, physical: str) -> list[str]:
        """The physical lines of ``Dev/portP``, ``Dev/portP/lineL`` or ``Dev/lineN``."""
        dev, _, term = physical.partition("/")
        self._device(dev)
        term = term.lower()
        m = re.fullmatch(r"port(\d+)(?:/line(\d+))?", term)
        if m and int(m.group(1)) in LINES_PER_PORT:
            port = int(m.group(1))
            if m.group(2) is None:  # port-wide: every line of the port
                return [f"{self.name}/port{port}/line{i}" for i in range(LINES_PER_PORT[port])]
            if int(m.group(2)) < LINES_PER_PORT[port]:
                return [f"{self.name}/port{port}/line{int(m.group(2))}"]
        m = re.fullmatch(r"line(\d+)", term)
        if m:  # device-wide line number: line8 is port1/line0 on 8-line ports
            k = int(m.group(1))
            for port, width in sorted(LINES_PER_PORT.items()):
                if k < width:
                    return [f"{self.name}/port{port}/line{k}"]
                k -= width
        raise self._no_such_channel(term, dev)

    def _add(self, task: SimTask, chans: list[SimChannel], kind: ChannelType) -> None:
        with self.lock:
            if task.channels and task.channels[0].chan_type != kind:
                raise NiError(
                    INVALID_PHYS_CHAN_TYPE,
                    "Channels of different types cannot be in one task "
                    f"(task {task.name} has {task.channels[0].chan_type.name}).",
                )
            taken = {c.name.lower() for c in task.channels}
            for ch in chans:
                if ch.name.lower() in taken:
                    raise NiError(
                        VIRTUAL_CHAN_NAME_USED,
                        f"Virtual channel name specified is used for another channel in the "
                        f"task.\nVirtual Channel: {ch.name}\nTask Name: {task.name}",
                    )
                taken.add(ch.name.lower())
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
        given = channel_names(names, len(phys))
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
                    if wire.units in EMG_UNITS:
                        signal = "emg"
                    scale = wire.scale
            name = given[i] if given else full
            chans.append(
                SimChannel(
                    name, full, ChannelType.ANALOG_INPUT, meas, signal, scale, tc, min_val, max_val
                )
            )
        self._add(task, chans, ChannelType.ANALOG_INPUT)

    def add_counter(
        self,
        task: SimTask,
        counter: str,
        name: str,
        initial: int,
        direction: int,
        edge: int = Edge.RISING.value,
    ) -> None:
        phys = _flatten(counter)
        given = channel_names(name, len(phys))
        chans = []
        for i, p in enumerate(phys):
            full, term = self._terminal(p, "ctr")
            chans.append(
                SimChannel(
                    given[i] if given else full,
                    full,
                    ChannelType.COUNTER_INPUT,
                    UsageTypeCI.COUNT_EDGES.value,
                    "trigger_count",
                    initial_count=initial,
                    count_down=direction == CountDirection.COUNT_DOWN.value,
                    edge=Edge(edge).value,
                    count_term=f"/{self.name}/{CI_DEFAULT_TERM[int(term[3:])]}",
                )
            )
        self._add(task, chans, ChannelType.COUNTER_INPUT)

    def add_lines(
        self, task: SimTask, lines: str, name: str, output: bool, one_per_line: bool = False
    ) -> None:
        """Digital channels: one per line (CHAN_PER_LINE) or one for all lines (CHAN_FOR_ALL_LINES).

        A port (``Dev1/port0``) stands for all its lines. A channel for all
        lines is named ``name`` or, unnamed, the lines string as given.
        """
        ctype = ChannelType.DIGITAL_OUTPUT if output else ChannelType.DIGITAL_INPUT
        groups = [self.digital_lines(p) for p in _flatten(lines)]
        flat = [ln for g in groups for ln in g]
        if one_per_line:
            given = channel_names(name, len(flat))
            members = [[ln] for ln in flat]
            cnames = given if given else flat
        else:
            members = [flat]
            items = [p.strip() for p in lines.split(",") if p.strip()]
            single = len(items) == 1 and ":" not in items[0]
            # Unnamed: the lines string when it names one port or line, else the
            # first line followed by "..." (the name nidaqmx-python assumes).
            cnames = [name.strip() or (lines.strip() if single else _flatten(lines)[0] + "...")]
        chans = []
        for cname, group in zip(cnames, members, strict=True):
            wire = self._wiring.get(group[0].lower()) if len(group) == 1 else None
            signal = "armed" if (wire is not None and wire.kind == "di") else "latch"
            chans.append(SimChannel(cname, group[0], ctype, 0, signal, lines=group))
        self._add(task, chans, ctype)

    def channels_of(self, task: SimTask, names: str) -> list[SimChannel]:
        """The task's channels named by ``names`` (a channel list; "" = all of them).

        Entries match virtual channel names or physical channels, case
        insensitively, after range expansion; anything else is -200486.
        """
        spec = names.strip()
        if not spec:
            return list(task.channels)
        for ch in task.channels:  # a channel for all lines may be named by a list
            if ch.name.lower() == spec.lower():
                return [ch]
        out = []
        for item in _flatten(spec):
            low = item.lower()
            hit = [c for c in task.channels if low in (c.name.lower(), c.physical.lower())]
            if not hit:
                raise NiError(
                    CHAN_NOT_IN_TASK,
                    f"Specified channel is not in the task.\nChannel Name: {item}\n"
                    f"Task Name: {task.name}",
                )
            out.extend(hit[:1])
        return out

    def terminal(self, source: str) -> str:
        """``/Dev/PFIn`` (checked) for a trigger or counter terminal as a client names it."""
        term = source.strip().lstrip("/")
        dev, _, pin = term.partition("/")
        self._device(dev)
        m = re.fullmatch(r"pfi(\d+)", pin.lower())
        if not m or int(m.group(1)) >= PFI_LINES:
            raise NiError(
                INVALID_TRIGGER_SOURCE,
                f"Source terminal is invalid: {source} (the device has /{self.name}/PFI0..15)",
            )
        return f"/{self.name}/PFI{int(m.group(1))}"

    # ------------------------------------------------------------ device attributes
    def physical_channels(self, kind: str) -> list[str]:
        """Physical channels of the card: ai, ci, co, ao, di_lines/do_lines, di_ports/do_ports."""
        if kind == "ai":
            return [f"{self.name}/ai{i}" for i in range(AI_TERMINALS)]
        if kind in ("ci", "co"):
            return [f"{self.name}/ctr{i}" for i in range(COUNTERS)]
        if kind == "lines":
            return [
                f"{self.name}/port{p}/line{i}" for p, w in LINES_PER_PORT.items() for i in range(w)
            ]
        if kind == "ports":
            return [f"{self.name}/port{p}" for p in LINES_PER_PORT]
        if kind == "terminals":
            return [f"/{self.name}/PFI{i}" for i in range(PFI_LINES)]
        return []  # no analog output on the simulated card

    # ------------------------------------------------------------ timing
    def cfg_samp_clk(self, task: SimTask, rate: float, mode: int, samps_per_chan: int) -> None:
        with self.lock:
            task.rate_hz = float(rate)
            task.mode = AcquisitionType(mode)
            task.samps_per_chan = int(samps_per_chan)

    def cfg_start_trigger(self, task: SimTask, source: str, edge: int) -> None:
        Edge(edge)  # validates
        term = self.terminal(source)
        with self.lock:
            task.trigger = term

    def cfg_ref_trigger(self, task: SimTask, source: str, edge: int, pretrigger: int) -> None:
        """Digital edge reference trigger: ``pretrigger`` samples before the edge are kept."""
        Edge(edge)
        term = self.terminal(source)
        with self.lock:
            task.ref_trigger = (term, edge, int(pretrigger))

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
            if task.ref_trigger is not None:
                pre = task.ref_trigger[2]
                if task.mode != AcquisitionType.FINITE or not 2 <= pre <= task.samps_per_chan - 2:
                    raise NiError(
                        INVALID_ATTRIBUTE_VALUE,
                        "Requested value is not a supported value for this property.\n"
                        f"Property: RefTrig.PretrigSamples\nRequested Value: {pre}\n"
                        f"(a reference trigger needs a finite acquisition with at least 2 "
                        f"pretrigger and 2 posttrigger samples)\nTask Name: {task.name}",
                    )
            now = self.world.clock.now()
            self._reserve_counters(task)
            if task.channels[0].chan_type == ChannelType.COUNTER_OUTPUT:
                self._start_co(task, now)
            task.running = True
            task.runs += 1
            task.armed_at = now
            task.position = 0
            task.t0 = None if (task.trigger or task.ref_trigger) else now

    def stop(self, task: SimTask) -> None:
        with self.lock:
            task.running = False
            run = task.co.run
            if run is not None and run.wired:
                self.world.trigger_in.withdraw(task.name, self.world.clock.now())
            if run is not None:  # edges still to come are never driven
                now = self.world.clock.now()
                later = {t for t in run.edges if t > now}
                self.generated = [g for g in self.generated if g[1] not in later]
                task.co.run = None

    def _reserve_counters(self, task: SimTask) -> None:
        """A counter serves one running task (-50103 for a second one)."""
        mine = {c.physical.lower() for c in task.channels if "/ctr" in c.physical.lower()}
        for other in self.tasks.values():
            if other is task or not other.running:
                continue
            for c in other.channels:
                if c.physical.lower() in mine:
                    raise NiError(
                        PAL_RESOURCE_RESERVED,
                        f"The specified resource is reserved. The operation could not be "
                        f"completed as specified.\nResource: {c.physical}\n"
                        f"Reserved by task: {other.name}\nTask Name: {task.name}",
                    )

    # ------------------------------------------------------------ counter output
    def add_co(
        self,
        task: SimTask,
        counter: str,
        name: str,
        *,
        output_type: int,
        units: int,
        idle_state: int,
        initial_delay: float,
        first: float,
        second: float,
    ) -> None:
        """Counter output channels; ``first, second`` = high, low time (s) for a pulse-time
        channel, frequency (Hz), duty cycle for a pulse-frequency one."""
        phys = _flatten(counter)
        given = channel_names(name, len(phys))
        chans = []
        for i, p in enumerate(phys):
            full, term = self._terminal(p, "ctr")
            cname = given[i] if given else full
            want_units = SECONDS if output_type == PULSE_TIME else HZ
            if units != want_units:
                raise NiError(
                    INVALID_ATTRIBUTE_VALUE,
                    "Requested value is not a supported value for this property.\n"
                    f"Property: units\nRequested Value: {units}\n"
                    f"(the simulated card takes {'seconds' if want_units == SECONDS else 'Hz'})"
                    f"\nChannel Name: {cname}",
                )
            try:
                if output_type == PULSE_TIME:
                    high, low = first, second
                    check_phase("high", high, cname)
                    check_phase("low", low, cname)
                else:
                    high, low = freq_phases(first, second, cname)
                if initial_delay < 0:
                    raise CoError(
                        INVALID_ATTRIBUTE_VALUE,
                        f"Requested value is not a supported value for this property.\n"
                        f"Property: CO.Pulse.InitialDelay\nRequested Value: {initial_delay:g}"
                        f"\nChannel Name: {cname}",
                    )
            except CoError as err:
                raise NiError(err.code, err.message) from None
            co = CoChannel(
                output_type,
                idle_state,
                initial_delay,
                high,
                low,
                f"/{self.name}/PFI{CO_TERM_BASE + int(term[3:])}",
            )
            chans.append(
                SimChannel(
                    cname,
                    full,
                    ChannelType.COUNTER_OUTPUT,
                    output_type,
                    "pulse_out",
                    co=co,
                )
            )
        self._add(task, chans, ChannelType.COUNTER_OUTPUT)

    def cfg_implicit(self, task: SimTask, mode: int, samps_per_chan: int) -> None:
        """Implicit timing: the pulses themselves time the generation (counter output)."""
        with self.lock:
            task.co.implicit = True
            task.co.finite = AcquisitionType(mode) == AcquisitionType.FINITE
            task.co.samps_per_chan = int(samps_per_chan)
            task.mode = AcquisitionType(mode)
            task.samps_per_chan = int(samps_per_chan)

    def write_co(
        self,
        task: SimTask,
        output_type: int,
        n: int,
        auto_start: bool,
        first: list[float],
        second: list[float],
    ) -> int:
        """Buffered write of ``n`` pulses per channel (high, low s or Hz, duty); written."""
        chans = [c for c in task.channels if c.co is not None]
        if not chans or len(chans) != len(task.channels):
            raise NiError(
                -200459,  # WRITE_NO_OUTPUT_CHANS_IN_TASK
                f"Task contains no output channels for this write.\nTask Name: {task.name}",
            )
        if any(c.co.output_type != output_type for c in chans if c.co is not None):
            raise NiError(
                -200829,  # WRITE_FAILED_MULTIPLE_CO_OUTPUT_TYPES
                "Write failed, because the channels of the task do not all have the output "
                f"type of the data.\nTask Name: {task.name}",
            )
        n = max(int(n), 1)
        if len(first) < n * len(chans) or len(second) < n * len(chans):
            raise NiError(
                -200524,  # WRITE_NUM_CHANS_MISMATCH
                f"Write cannot be performed, because the number of channels in the data does "
                f"not match the number of channels in the task.\nTask Name: {task.name}",
            )
        pulses = []
        try:
            for i in range(n):  # GROUP_BY_CHANNEL: the first (only) channel's samples
                a, b = float(first[i]), float(second[i])
                if output_type == PULSE_TIME:
                    check_phase("high", a, chans[0].name)
                    check_phase("low", b, chans[0].name)
                    pulses.append((a, b))
                else:
                    pulses.append(freq_phases(a, b, chans[0].name))
        except CoError as err:
            raise NiError(err.code, err.message) from None
        with self.lock:
            if not task.co.implicit:
                if n > 1 or (not auto_start and not task.running):
                    code = -200874 if output_type == PULSE_TIME else -200875
                    raise NiError(
                        code,
                        "Write cannot be performed when the task is not started, the sample "
                        "timing type is On Demand, and Auto Start is false.\n"
                        f"Task Name: {task.name}",
                    )
                for c in chans:  # on demand: the next pulse is this one
                    assert c.co is not None
                    c.co.high_s, c.co.low_s = pulses[0]
            else:
                task.co.buffer = pulses
        if auto_start and not task.running:
            self.start(task)
        return n

    def _start_co(self, task: SimTask, now: float) -> None:
        chan = task.channels[0].co
        assert chan is not None
        if task.co.implicit and not task.co.finite:
            raise NiError(
                FUNCTION_NOT_SUPPORTED_FOR_DEVICE,
                "Continuous counter output is not supported by the simulated device "
                f"{self.name} (use finite implicit timing).\nTask Name: {task.name}",
            )
        try:
            edges, end = pulse_edges(chan, task.co, now)
        except CoError as err:
            raise NiError(err.code, f"{err.message}\nTask Name: {task.name}") from None
        wired = self._trigger_term is not None and chan.term.lower() == self._trigger_term
        task.co.run = CoRun(edges, end, wired)
        self.generated.extend((chan.term, t) for t in edges)
        if wired:
            self.world.trigger_in.emit(edges, task.name)

    def co_done(self, task: SimTask) -> bool:
        """Whether ``task``'s pulse generation is over (not running counts as done)."""
        run = task.co.run
        if not task.running or run is None:
            return not task.running
        return self.world.clock.now() >= run.end

    # ------------------------------------------------------------ reading
    def _edges(self, after: float) -> list[float]:
        """World times of trigger-out edges (every PFI terminal) in ``[after, now]``."""
        now = self.world.clock.now()
        with self.world.lock:
            return [e.t_s for e in self.world.pulses if after <= e.t_s <= now]

    def _first_sample_time(self, task: SimTask) -> float | None:
        """World time of sample 0 as read: start, start trigger, or reference trigger.

        With a reference trigger the clock runs from the start (trigger);
        the edge counts only once ``pretrigger`` samples were acquired, and
        sample 0 is the first of the ``pretrigger`` samples before it.
        """
        if task.t0 is not None:
            return task.t0
        start: float | None = task.armed_at
        if task.trigger is not None:
            edges = self._edges(task.armed_at)
            start = min(edges) if edges else None
        if start is None or task.ref_trigger is None:
            task.t0 = start
            return task.t0
        assert task.rate_hz is not None
        pre = task.ref_trigger[2]
        edges = self._edges(start + pre / task.rate_hz)
        if edges:
            k_ref = math.ceil((min(edges) - start) * task.rate_hz - 1e-9)
            task.t0 = start + (k_ref - pre) / task.rate_hz
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
        if not finite:
            t0 = self._first_sample_time(task)
            have = 0 if t0 is None else self._acquired(task, t0, self.world.clock.now())
            if have - task.position > task.buffer_size:
                raise NiError(
                    SAMPLES_NO_LONGER_AVAILABLE,
                    "The application is not able to keep up with the hardware acquisition.\n"
                    "Attempted to read samples that are no longer available. The requested "
                    "sample was previously available, but has since been overwritten.\n"
                    f"Buffer size: {task.buffer_size}\nTask Name: {task.name}",
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
        if ch.signal == "emg":
            uV = self.emg.signal_uV(t) + self._noise(t.size) * self.emg.noise_rms_uV
            return uV / ch.scale
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

    def _line_state(self, line: str) -> bool:
        wire = self._wiring.get(line.lower())
        if wire is not None and wire.kind == "di":
            return self.world.armed
        return self.do_lines.get(line, False)

    def read_lines(self, task: SimTask) -> list[list[bool]]:
        """State of every line of every channel (one list per channel)."""
        if not task.running:
            self.start(task)
        return [[self._line_state(ln) for ln in ch.lines] for ch in task.channels]

    def write_lines(self, task: SimTask, values: list[list[bool]]) -> None:
        """Drive every line of every channel (one list of line states per channel)."""
        if not task.running:
            self.start(task)
        for ch, states in zip(task.channels, values, strict=False):
            for ln, v in zip(ch.lines, states, strict=False):
                self.do_lines[ln] = bool(v)

    @staticmethod
    def port_bits(ch: SimChannel) -> list[int]:
        """Bit of each of the channel's lines in its unsigned port value.

        A line's bit is its number in its port, ports of a multi-port channel
        following each other in 8-bit steps (assumption for multi-port channels).
        """
        ports = [int(re.search(r"port(\d+)", ln).group(1)) for ln in ch.lines]  # type: ignore[union-attr]
        first = min(ports) if ports else 0
        return [
            8 * (port - first) + int(ln.rsplit("line", 1)[1])
            for port, ln in zip(ports, ch.lines, strict=True)
        ]


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
