"""The counter output RPCs of the simulated NI gRPC device server.

A mixin of :class:`~instruments.sim.daq_server.SimDaqServer`: the requests nidaqmx
1.7.0 sends for ``co_channels.add_co_pulse_chan_time`` / ``add_co_pulse_chan_freq``,
``timing.cfg_implicit_timing``, ``task.write`` of ``CtrTime`` / ``CtrFreq`` samples
and the channel properties it reads on the way (``co_output_type``, ``co_pulse_term``
and the pulse's own values). The model is :mod:`instruments.sim.daq_co`.
"""

from __future__ import annotations

from typing import Any

from nidaqmx._stubs import nidaqmx_pb2 as pb

from instruments.sim.daq_co import PULSE_FREQUENCY, PULSE_TIME
from instruments.sim.daq_device import SimChannel, SimDaqDevice, SimTask

# Channel attribute ids (nidaqmx 1.7.0 COChannel property accessors).
CO_OUTPUT_TYPE, CO_PULSE_IDLE_STATE, CO_PULSE_TERM = 0x18B5, 0x1170, 0x18E1
CO_PULSE_HIGH_TIME, CO_PULSE_LOW_TIME, CO_PULSE_TIME_INITIAL_DELAY = 0x18BA, 0x18BB, 0x18BC
CO_PULSE_FREQ, CO_PULSE_DUTY_CYC, CO_PULSE_FREQ_INITIAL_DELAY = 0x1178, 0x1176, 0x0299
IMPLICIT = 10451  # SampleTimingType.IMPLICIT


class CounterOutputRpcs:
    """Counter output requests, answered from ``self.device``."""

    device: SimDaqDevice

    def _task(self, request: Any) -> SimTask:  # provided by the server
        raise NotImplementedError

    # ------------------------------------------------------------ channels
    def rpc_CreateCOPulseChanTime(self, r: Any) -> Any:
        self.device.add_co(
            self._task(r),
            r.counter,
            r.name_to_assign_to_channel,
            output_type=PULSE_TIME,
            units=int(r.units_raw or r.units),
            idle_state=int(r.idle_state_raw or r.idle_state),
            initial_delay=r.initial_delay,
            first=r.high_time,
            second=r.low_time,
        )
        return pb.CreateCOPulseChanTimeResponse()

    def rpc_CreateCOPulseChanFreq(self, r: Any) -> Any:
        self.device.add_co(
            self._task(r),
            r.counter,
            r.name_to_assign_to_channel,
            output_type=PULSE_FREQUENCY,
            units=int(r.units_raw or r.units),
            idle_state=int(r.idle_state_raw or r.idle_state),
            initial_delay=r.initial_delay,
            first=r.freq,
            second=r.duty_cycle,
        )
        return pb.CreateCOPulseChanFreqResponse()

    # ------------------------------------------------------------ timing and writes
    def rpc_CfgImplicitTiming(self, r: Any) -> Any:
        self.device.cfg_implicit(
            self._task(r), int(r.sample_mode_raw or r.sample_mode), r.samps_per_chan
        )
        return pb.CfgImplicitTimingResponse()

    def rpc_WriteCtrTime(self, r: Any) -> Any:
        n = self.device.write_co(
            self._task(r),
            PULSE_TIME,
            r.num_samps_per_chan,
            r.auto_start,
            list(r.high_time),
            list(r.low_time),
        )
        return pb.WriteCtrTimeResponse(num_samps_per_chan_written=n)

    def rpc_WriteCtrTimeScalar(self, r: Any) -> Any:
        self.device.write_co(
            self._task(r), PULSE_TIME, 1, r.auto_start, [r.high_time], [r.low_time]
        )
        return pb.WriteCtrTimeScalarResponse()

    def rpc_WriteCtrFreq(self, r: Any) -> Any:
        n = self.device.write_co(
            self._task(r),
            PULSE_FREQUENCY,
            r.num_samps_per_chan,
            r.auto_start,
            list(r.frequency),
            list(r.duty_cycle),
        )
        return pb.WriteCtrFreqResponse(num_samps_per_chan_written=n)

    def rpc_WriteCtrFreqScalar(self, r: Any) -> Any:
        self.device.write_co(
            self._task(r), PULSE_FREQUENCY, 1, r.auto_start, [r.frequency], [r.duty_cycle]
        )
        return pb.WriteCtrFreqScalarResponse()

    # ------------------------------------------------------------ channel properties
    @staticmethod
    def co_int32(ch: SimChannel, attr: int) -> int | None:
        """An Int32 counter output property of ``ch`` (None: not one)."""
        if ch.co is None:
            return None
        if attr == CO_OUTPUT_TYPE:
            return ch.co.output_type
        if attr == CO_PULSE_IDLE_STATE:
            return ch.co.idle_state
        return None

    @staticmethod
    def co_double(ch: SimChannel, attr: int) -> float | None:
        """A Double counter output property of ``ch`` (None: not one)."""
        co = ch.co
        if co is None:
            return None
        period = co.high_s + co.low_s
        values = {
            CO_PULSE_HIGH_TIME: co.high_s,
            CO_PULSE_LOW_TIME: co.low_s,
            CO_PULSE_TIME_INITIAL_DELAY: co.initial_delay_s,
            CO_PULSE_FREQ_INITIAL_DELAY: co.initial_delay_s,
            CO_PULSE_FREQ: 1.0 / period,
            CO_PULSE_DUTY_CYC: co.high_s / period,
        }
        return values.get(attr)

    def co_term_get(self, ch: SimChannel, attr: int) -> str | None:
        """``co_pulse_term`` of ``ch`` (None: not that property of a counter output)."""
        return ch.co.term if ch.co is not None and attr == CO_PULSE_TERM else None

    def co_term_set(self, chans: list[SimChannel], attr: int, value: str) -> bool:
        """Route the channels' output to ``value`` (a PFI terminal); False: not this property."""
        if attr != CO_PULSE_TERM or not chans or any(c.co is None for c in chans):
            return False
        term = self.device.terminal(value)
        for c in chans:
            if c.co is not None:
                c.co.term = term
        return True

    def co_done(self, task: SimTask) -> bool | None:
        """Whether ``task``'s generation is over (None: not a counter output task)."""
        if not task.channels or task.channels[0].co is None:
            return None
        return self.device.co_done(task)

