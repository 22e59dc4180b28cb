"""What every simulated stimulator shares: timing, trains, watchdogs and link faults.

:class:`DeviceCore` turns protocol-neutral requests (set power, arm, fire,
start a train) into :class:`~instruments.sim.world.World` changes on the world
clock: power changes settle for ``settle_up/down_s_per_percent`` per %MSO,
arming takes ``arming_time_s`` (armed but not ready until then), pulses are
scheduled at exact world times ``t0 + k/rate`` and fired with ``at=`` so
timing analysis is exact, and the unit disarms itself after
``armed_timeout_s`` armed without firing and above the coil temperature
cutoff. Rate limits are the model's documented ones
(:mod:`instruments.stimulator.models`), as the real unit applies its own.

:class:`LinkFaults` applies the ``[sim.faults]`` serial knobs, read live.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from instruments.sim.settings import SimStimulator
from instruments.sim.world import World
from instruments.stimulator.models import DeviceModel, device_model
from instruments.stimulator.settings import StimulatorSettings

log = logging.getLogger(__name__)

READY_CHARGE_FRACTION = 0.995  # capacitor within 0.5 % of its target counts as charged


def model_limits(config: StimulatorSettings) -> DeviceModel:
    """The documented limits of the simulated model; a generic device when nobody described it."""
    known = device_model(config.model)
    return known if known is not None else DeviceModel(name=config.model, driver=config.driver)


@dataclass(frozen=True)
class Scheduled:
    """A pulse the device will fire at world time ``t`` on ``channel``."""

    t: float
    channel: str = "A"
    train: bool = False


class DeviceCore:
    """Protocol-neutral stimulator behaviour on the world clock."""

    def __init__(self, world: World, config: StimulatorSettings) -> None:
        self.world = world
        self.config = config
        self.limits = model_limits(config)
        self.arm_ready_at: float | None = None
        self.settle_until = 0.0
        self.schedule: deque[Scheduled] = deque()
        self.last_train_end = float("-inf")
        self.on_disarm: Callable[[str], None] | None = None  # protocol hook (unprompted frames)
        self.on_train_end: Callable[[], None] | None = None
        self.last_nominal_fire: float | None = None  # when the last pulse was due (no jitter)
        self.refused_triggers: list[tuple[float, str]] = []  # (world time, why no pulse)
        # protocol hook: why the front-end's mode gives no pulse on a trigger ("" : none)
        self.trigger_gate: Callable[[], str] | None = None

    @property
    def params(self) -> SimStimulator:
        """The device's sim parameters, read live."""
        return self.world.sim.stimulator

    def now(self) -> float:
        return self.world.clock.now()

    # ------------------------------------------------------------ state
    @property
    def armed(self) -> bool:
        return self.world.armed

    def power(self, channel: str = "A") -> float:
        st = self.world.state
        return st.intensity_percent if channel == "A" else st.intensity_b_percent

    def over_temperature(self, t: float | None = None) -> bool:
        return self.world.coil_temperature_C(t) > self.world.sim.thermal.cutoff_C

    def in_intertrain_wait(self, now: float) -> bool:
        return now < self.last_train_end + self.limits.min_intertrain_interval_s

    def train_running(self) -> bool:
        return any(s.train for s in self.schedule)

    def ready(self, now: float) -> bool:
        """Armed, arming done, power settled, recharged, past the minimum pulse interval."""
        if not self.armed or self.arm_ready_at is None or now < self.arm_ready_at:
            return False
        if now < self.settle_until or self.schedule or self.in_intertrain_wait(now):
            return False
        last = self.world.state.last_fire
        if last is not None and now - last < self.limits.min_pulse_interval_ms / 1000.0:
            return False
        target = self.world.v0_for(self.power("A"))
        return self.world.capacitor_voltage(now) >= READY_CHARGE_FRACTION * target

    def earliest_start(self, now: float) -> float:
        """When a train asked for at ``now`` can start: arming, settling, pauses all over."""
        last = self.world.state.last_fire
        return max(
            now,
            self.arm_ready_at if self.arm_ready_at is not None else now,
            self.settle_until,
            self.last_train_end + self.limits.min_intertrain_interval_s,
            last + self.limits.min_pulse_interval_ms / 1000.0 if last is not None else now,
        )

    # ------------------------------------------------------------ requests
    def set_power(self, percent: float, channel: str = "A") -> None:
        now = self.now()
        before = self.power(channel)
        self.world.set_intensity(percent, channel)
        if channel != "A":  # B (BiStim unit B, MagPro twin) has its own charger: no wait on A
            return
        if not self.armed:  # disarmed the capacitor is empty: it charges to the level on arming
            return
        delta = percent - before
        per = (
            self.params.settle_up_s_per_percent
            if delta >= 0
            else (self.params.settle_down_s_per_percent)
        )
        self.settle_until = max(self.settle_until, now + abs(delta) * per)

    def arm(self) -> bool:
        """Arm (False when the coil is too hot)."""
        if self.over_temperature():
            return False
        if not self.armed:
            self.world.arm()
            self.arm_ready_at = self.now() + self.params.arming_time_s
        return True

    def disarm(self, reason: str = "command") -> None:
        was = self.armed
        self.world.disarm(reason)
        self.schedule.clear()
        self.arm_ready_at = None
        if was and reason != "command" and self.on_disarm is not None:
            self.on_disarm(reason)

    def rate_allowed(self, rate_hz: float, percent: float) -> bool:
        """Within the spec's rate limit at ``percent`` and its minimum pulse interval."""
        if rate_hz <= 0:
            return False
        top = self.limits.max_rate_hz(percent)
        if top is not None and rate_hz > top * (1 + 1e-9):
            return False
        return 1.0 / rate_hz >= self.limits.min_pulse_interval_ms / 1000.0 * (1 - 1e-9)

    def fire_now(self, pair: tuple[float, str] | None = None) -> None:
        """One pulse now (and, for a pair, the second ``pair[0]`` s later on ``pair[1]``)."""
        now = self.now()
        self.schedule.append(Scheduled(now, "A"))
        if pair is not None:
            self.schedule.append(Scheduled(now + pair[0], pair[1]))
        self.catch_up(now)

    def start_train(
        self,
        rate_hz: float,
        pulses: int,
        trains: int = 1,
        iti_s: float = 0.0,
        t0: float | None = None,
    ) -> None:
        """Schedule ``trains`` x ``pulses`` at ``t0 + k/rate``; ITI from last to first pulse."""
        start = self.now() if t0 is None else t0
        for _ in range(trains):
            for k in range(pulses):
                self.schedule.append(Scheduled(start + k / rate_hz, "A", train=True))
            start += (pulses - 1) / rate_hz + iti_s
        self.catch_up(self.now())

    # ------------------------------------------------------------ time passes
    def catch_up(self, now: float) -> None:
        """Fire every scheduled pulse due by ``now`` at its exact world time, and answer
        every trigger-input edge due by then (in time order with the schedule)."""
        edges = deque(self.world.trigger_in.take_due(now))
        while True:
            due = bool(self.schedule) and self.schedule[0].t <= now
            if edges and (not due or edges[0] < self.schedule[0].t):
                self._trigger(edges.popleft())
            elif due:
                self._fire_scheduled(self.schedule.popleft())
            else:
                return

    def _fire_scheduled(self, item: Scheduled) -> None:
        if not self.armed:
            self.schedule.clear()
            return
        if self.over_temperature(item.t):
            self.disarm("coil over temperature")
            return
        self.world.fire(at=item.t, channel=item.channel)
        self.last_nominal_fire = item.t
        if item.channel != "A":  # the charger goes back to the A level
            self.world.set_intensity(self.power("A"), "A")
        if item.train and not any(s.train for s in self.schedule):
            self.last_train_end = item.t
            if self.on_train_end is not None:
                self.on_train_end()

    # ------------------------------------------------------------ trigger input
    def trigger_refusal(self, t: float) -> str:
        """Why a trigger-input edge at world time ``t`` gives no pulse ("" : it fires).

        The unit fires on an edge only armed and ready (magstim_facts.md, "Trigger
        input"): arming done, power settled, no train of its own running or just over
        (its enforced pause after a train, F27), and past its
        recharge time since the last pulse, i.e. the minimum pulse interval and the
        interval of the model's rate limit at the set intensity (the charger's pace).
        """
        if not self.armed:
            return "not armed"
        if self.arm_ready_at is None or t < self.arm_ready_at:
            return "still arming"
        if t < self.settle_until:
            return "power level settling"
        if self.train_running():
            return "a train of its own is running"
        if self.in_intertrain_wait(t):
            return "waiting out the pause after its own train"
        if self.trigger_gate is not None and (why := self.trigger_gate()):
            return why
        last = self.last_nominal_fire
        if last is not None and t - last < self.recharge_s() * (1 - 1e-9):
            return f"recharging ({(t - last) * 1e3:.1f} ms after the last pulse)"
        target = self.world.v0_for(self.power("A"))
        if self.world.capacitor_voltage(t) < READY_CHARGE_FRACTION * target:
            return "capacitor not charged"
        return ""

    def recharge_s(self) -> float:
        """Shortest time (s) between pulses at the set intensity: the model's limits."""
        gap = self.limits.min_pulse_interval_ms / 1000.0
        top = self.limits.max_rate_hz(self.power("A"))
        return max(gap, 1.0 / top) if top else gap

    def _trigger(self, t: float) -> None:
        if self.armed and self.over_temperature(t):
            self.disarm("coil over temperature")
        why = self.trigger_refusal(t)
        if why:
            self.refused_triggers.append((t, why))
            log.debug("trigger input edge at %.6f s gave no pulse: %s", t, why)
            return
        self.world.fire(at=t)
        self.last_nominal_fire = t

    def tick(self, now: float) -> None:
        """Pulses due, then the watchdogs: armed timeout and coil over-temperature."""
        self.catch_up(now)
        if not self.armed:
            return
        if self.over_temperature():
            self.disarm("coil over temperature")
            return
        st = self.world.state
        since = max(x for x in (st.armed_since, st.last_fire) if x is not None)
        if not self.schedule and now - since > self.params.armed_timeout_s:
            self.disarm("armed timeout")

    def next_deadline(self) -> float | None:
        """World time of the next scheduled pulse or trigger edge (the server wakes for it)."""
        times = [self.schedule[0].t] if self.schedule else []
        edge = self.world.trigger_in.next_edge()
        return min([*times, edge]) if edge is not None else (times[0] if times else None)


class LinkFaults:
    """The serial-link fault knobs of ``world.faults`` (read live), with their counters."""

    def __init__(self, world: World, seed: int = 0) -> None:
        self.world = world
        self.commands = 0
        self.replies = 0
        self.rng = random.Random(seed)

    def accept_command(self) -> bool:
        """Count a command; False once the link is dropped (the device never sees it)."""
        n = self.world.faults.serial_drop_after_n
        if n and self.commands >= n:
            return False
        self.commands += 1
        return True

    @property
    def dropped(self) -> bool:
        n = self.world.faults.serial_drop_after_n
        return bool(n) and self.commands >= n

    def corrupt(self, reply: bytes, crc_index: int) -> bytes:
        """Apply garbage / bad-CRC faults to the next reply."""
        self.replies += 1
        f = self.world.faults
        if f.garbage_reply_every_n and self.replies % f.garbage_reply_every_n == 0:
            body = bytes(self.rng.randrange(256) for _ in range(max(len(reply) - 1, 1)))
            return b"\x00" + body  # 0x00 is neither an echo, '?' nor a frame start
        if f.bad_crc_every_n and self.replies % f.bad_crc_every_n == 0 and reply:
            b = bytearray(reply)
            b[crc_index] ^= 0xFF
            return bytes(b)
        return reply

    @property
    def reply_delay_s(self) -> float:
        return float(self.world.faults.reply_delay_ms) / 1000.0
