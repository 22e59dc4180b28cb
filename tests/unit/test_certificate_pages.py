"""Certificate PDF: results continue on further pages, every page says "page x of y"."""

from __future__ import annotations

import io

from pypdf import PdfReader

from harness.limits import Limits, Measurement
from harness.report.certificate import Certificate, render_pdf


def test_long_results_continue_and_every_page_is_numbered() -> None:
    ms = [
        Measurement.check(
            f"peak dI/dt at {p} %MSO", 50.0 + p / 10, "A/µs", Limits.around(50.0, relative=0.05)
        )
        for p in range(80)  # more than one A4 page of result lines
    ]
    cert = Certificate(
        title="Calibration certificate rapid2 #SN-1",
        verdict="pass",
        context={"certificate number": "line-1/SN-1-run-01", "issuing station": "line-1"},
        instruments={"scope": "DSOX3024T #MY123"},
        measurements=ms,
        figures=[],
    )
    pages = PdfReader(io.BytesIO(render_pdf(cert))).pages
    assert len(pages) >= 2
    texts = [p.extract_text() for p in pages]
    for i, text in enumerate(texts, 1):
        assert f"page {i} of {len(pages)}" in text, text[-200:]
        assert "certificate line-1/SN-1-run-01" in text
    assert "results (continued)" in texts[1]
    every = "".join(texts)
    assert all(m.name in every for m in ms)  # no result lost off the bottom of a page
    assert "authorised signatory" in texts[-1]
