"""Recording measurements: judge a value against limits and commit it at once.

:class:`MeasureRecorder` is what the pytest ``measure`` fixture is, and what
commands that run procedures outside pytest (``tmsbench demo-history``) use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.config import Tolerance
from harness.limits import Limits, Measurement, Verdict

if TYPE_CHECKING:  # the session module imports this one at run time
    from harness.session import BenchSession


class MeasureRecorder:
    """Judge and record measurements of one test (or procedure) in a bench session."""

    def __init__(self, session: BenchSession, test_id: str) -> None:
        self.session = session
        self.test_id = test_id
        self.measurements: list[Measurement] = []
        # (caption, PNG or a callable drawing it): drawn late, see render_figures()
        self.figures: list[tuple[str, bytes | Callable[[], bytes]]] = []

    def __call__(
        self,
        name: str,
        value: float | None,
        unit: str,
        limits: Limits | None = None,
        *,
        nominal: float | None = None,
        tolerance: Tolerance | None = None,
        waveform: str = "",
        **extra: Any,
    ) -> Verdict:
        """Judge and record one characteristic; returns its verdict.

        Give ``limits`` directly, or ``nominal`` with a spec ``tolerance``.
        The measurement is committed to the journal before this returns.
        """
        if limits is None:
            if nominal is not None and tolerance is not None:
                limits = Limits.around(
                    nominal,
                    relative=tolerance.relative,
                    absolute=tolerance.absolute,
                    marginal=tolerance.marginal,
                )
            else:
                limits = Limits()
        s = self.session
        m = Measurement.check(
            name,
            None if value is None else float(value),
            unit,
            limits,
            tags=s.tags(waveform=waveform),
            run_id=s.context.run_id,
            test_id=self.test_id,
            time_ns=s.now_ns(),
            extra=extra,
        )
        s.record(m)
        self.measurements.append(m)
        return m.verdict

    def figure(self, caption: str, png: bytes | Callable[[], bytes]) -> None:
        """Attach a PNG figure (shown in the report).

        Pass the drawing function itself (``cap.figure``) rather than its PNG to
        draw it after the test, when its instruments are disarmed: drawing takes
        tens of ms of CPU that an armed unit's keep-alive should not compete with.
        """
        self.figures.append((caption, png))

    def render_figures(self) -> list[tuple[str, bytes]]:
        """Draw every figure still pending; returns (caption, PNG) pairs.

        A figure that cannot be drawn is left out with its caption saying why;
        it never fails the test it illustrates.
        """
        done: list[tuple[str, bytes]] = []
        for caption, fig in self.figures:
            if isinstance(fig, bytes):
                done.append((caption, fig))
                continue
            try:
                done.append((caption, fig()))
            except Exception as err:  # a report figure must not change a verdict
                done.append((f"{caption} (not drawn: {type(err).__name__}: {err})", b""))
        self.figures[:] = done
        return done

    def failures(self) -> list[Measurement]:
        """Measurements that failed or could not be measured."""
        return [m for m in self.measurements if m.verdict in (Verdict.FAIL, Verdict.INVALID)]
