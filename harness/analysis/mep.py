"""MEP peak-to-peak amplitude from an EMG record (pure numpy).

The MEP is read as the peak-to-peak amplitude of the EMG in a window after the pulse
(Rossini et al. 2015, Clin Neurophysiol 126:1071-1107: peak-to-peak amplitude is the
standard MEP measure); the default window 15-50 ms spans hand-muscle latencies of
~20-25 ms plus the MEP's ~10-15 ms duration.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

WINDOW_S = (0.015, 0.050)  # after the pulse (s)


def mep_peak_to_peak_uV(
    emg_uV: npt.ArrayLike,
    rate_hz: float,
    pulse_index: int = 0,
    window_s: tuple[float, float] = WINDOW_S,
) -> float:
    """Peak-to-peak (µV) of ``emg_uV`` (sampled at ``rate_hz``) in ``window_s`` after the pulse.

    ``pulse_index`` is the sample at which the pulse fired (0 for a record triggered by it).
    Raises ValueError naming the window when the record does not cover it.
    """
    y = np.asarray(emg_uV, dtype=float)
    lo = pulse_index + round(window_s[0] * rate_hz)
    hi = pulse_index + round(window_s[1] * rate_hz)
    if lo < 0 or hi > y.size or hi - lo < 2:
        raise ValueError(
            f"EMG record of {y.size} samples at {rate_hz:g} Hz does not cover the MEP window "
            f"{window_s[0] * 1e3:g}-{window_s[1] * 1e3:g} ms after sample {pulse_index}"
        )
    seg = y[lo:hi]
    return float(seg.max() - seg.min())
