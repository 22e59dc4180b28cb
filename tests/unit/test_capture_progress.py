"""The progress line a long train protocol prints after each train (worked by hand)."""

from __future__ import annotations

from harness.capture import train_progress_line


def test_clinical_10hz_session_line():
    # 40 pulses at 10 Hz span 3.9 s; after train 3 of 75: 26 s rest + 72 × (3.9 + 26) s
    # = 2178.8 s = 36.3 min of protocol left
    line = train_progress_line(
        3, 75, rate_hz=10.0, pulses=40, trains=1, iti_s=0.0, rest_after_s=26.0, n_valid=40
    )
    assert line == (
        "train 3/75 at 10 Hz: 40 pulses in 3.9 s, 40 valid; next in 26 s, about 36 min left"
    )


def test_itbs_line_counts_the_bursts_of_one_call():
    # 10 bursts of 3 at 50 Hz, 0.16 s apart: 10 × 0.04 + 9 × 0.16 = 1.84 s; after 1 of 20:
    # 8 + 19 × 9.84 = 194.96 s = 3.2 min
    line = train_progress_line(
        1, 20, rate_hz=50.0, pulses=3, trains=10, iti_s=0.16, rest_after_s=8.0, n_valid=29
    )
    assert line == (
        "train 1/20 at 50 Hz: 10 × 3 pulses in 1.84 s, 29 valid; next in 8 s, about 3 min left"
    )


def test_time_left_is_wall_time_and_hours_past_ninety_minutes():
    # 2 of 200: 60 + 198 × 63.9 = 12712.2 device s = 3.53 h; at 10x (0.1 wall s per
    # device s) 1271 s = 21 min
    kw = dict(rate_hz=10.0, pulses=40, trains=1, iti_s=0.0, rest_after_s=60.0, n_valid=40)
    assert train_progress_line(2, 200, **kw).endswith("about 3.5 h left")
    assert train_progress_line(2, 200, wall_per_device_s=0.1, **kw).endswith("about 21 min left")


def test_last_train_says_so_and_its_rest():
    kw = dict(rate_hz=10.0, pulses=40, trains=1, iti_s=0.0, n_valid=39)
    assert train_progress_line(75, 75, rest_after_s=26.0, **kw) == (
        "train 75/75 at 10 Hz: 40 pulses in 3.9 s, 39 valid; last, 26 s rest"
    )
    assert train_progress_line(1, 1, rest_after_s=0.0, **kw).endswith("39 valid; last")
