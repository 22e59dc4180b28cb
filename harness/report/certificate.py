"""Calibration certificate: one HTML page and a PDF with the curve, a waveform and the limits."""

from __future__ import annotations

import base64
import html
import io
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from harness.limits import Measurement
from harness.report.html import _CSS, _badge, _measurement_rows

VALUE_WIDTH = 78  # characters of a context value per line on the A4 page (9 pt)
BOTTOM = 0.05  # lowest text line on a page (figure fraction), above the footer
RESULT_WIDTH = 96  # characters of a result line (8.5 pt monospace) inside the A4 margins


@dataclass(frozen=True)
class Certificate:
    """Everything printed on a calibration certificate."""

    title: str
    verdict: str
    context: Mapping[str, str]  # serials, station, operator, date, revision
    instruments: Mapping[str, str]  # role -> identity/resource
    measurements: Sequence[Measurement]
    figures: Sequence[tuple[str, bytes]]  # (caption, PNG)


def render_html(cert: Certificate) -> str:
    """The certificate as a self-contained HTML page."""
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
        for k, v in cert.context.items()
    )
    inst = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
        for k, v in cert.instruments.items()
    )
    figs = "".join(
        f'<div class="fig"><img alt="{html.escape(c)}" src="data:image/png;base64,'
        f'{base64.b64encode(p).decode()}"><br><small>{html.escape(c)}</small></div>'
        for c, p in cert.figures
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(cert.title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(cert.title)} {_badge(cert.verdict)}</h1>"
        f'<table class="ctx">{rows}</table><h2>Instruments</h2><table class="ctx">{inst}</table>'
        f"<h2>Results</h2>{_measurement_rows(cert.measurements)}{figs}</body></html>"
    )


def render_pdf(cert: Certificate) -> bytes:
    """The certificate as a PDF: text pages (results continue on further pages when they
    do not fit), one page per figure, "page x of y" and the certificate number on each,
    and an authorised-signatory block after the results."""
    pages: list[Figure] = []

    def new_page() -> tuple[Figure, float]:
        fig = plt.figure(figsize=(8.27, 11.69))  # A4 portrait
        pages.append(fig)
        return fig, 0.95

    fig, y = new_page()
    fig.text(0.08, y, cert.title, fontsize=16, weight="bold")
    fig.text(
        0.08,
        y - 0.03,
        f"verdict: {cert.verdict.upper().replace('_', ' ')}",
        fontsize=13,
        color="darkgreen" if cert.verdict.lower() == "pass" else "darkred",
    )
    if str(cert.context.get("traceability", "")).startswith("NOT TRACEABLE"):
        fig.text(0.55, y - 0.03, "NOT TRACEABLE", fontsize=13, weight="bold", color="darkred")
    y -= 0.08
    for block in (cert.context, cert.instruments):
        for k, v in block.items():
            lines = textwrap.wrap(str(v), width=VALUE_WIDTH) or [""]
            if y - 0.017 * len(lines) < BOTTOM:
                fig, y = new_page()
            fig.text(0.08, y, f"{k}:", fontsize=9, color="0.35")
            # long values (a reason list, an instrument identity) wrap inside the page
            for line in lines:
                fig.text(0.32, y, line, fontsize=9)
                y -= 0.017
            y -= 0.005
        y -= 0.015
    if y - 0.1 < BOTTOM:  # the heading with at least its first lines, not alone
        fig, y = new_page()
    fig.text(0.08, y, "results", fontsize=11, weight="bold")
    y -= 0.028
    for m in cert.measurements:
        # a line with its U and limits may be longer than the page is wide: wrap it
        lines = textwrap.wrap(m.describe(), width=RESULT_WIDTH, subsequent_indent="    ")
        if y - 0.016 * len(lines) < BOTTOM:
            fig, y = new_page()
            fig.text(0.08, y, "results (continued)", fontsize=11, weight="bold")
            y -= 0.028
        for line in lines:
            fig.text(0.08, y, line, fontsize=8.5, family="monospace")
            y -= 0.016
        y -= 0.004
    if y - 0.12 < BOTTOM:
        fig, y = new_page()
    y -= 0.03
    fig.text(0.08, y, "authorised signatory", fontsize=11, weight="bold")
    for line in (
        "Signed electronically with tmsbench approve (signer id and password, 21 CFR",
        "Part 11); the signature manifest page is appended to the signed copy. A copy",
        "without that page is not approved.",
        "",
        "name: ______________________   date (UTC): ____________   signature: ______________",
    ):
        y -= 0.02
        fig.text(0.08, y, line, fontsize=9)
    for caption, png in cert.figures:
        fig = plt.figure(figsize=(8.27, 5.8))
        pages.append(fig)
        ax = fig.add_axes((0.03, 0.08, 0.94, 0.86))
        ax.imshow(mpimg.imread(io.BytesIO(png), format="png"))
        ax.axis("off")
        fig.text(0.05, 0.03, caption, fontsize=9)
    number = str(cert.context.get("certificate number", ""))
    buf = io.BytesIO()
    with PdfPages(buf) as pdf:
        for i, page in enumerate(pages, 1):
            foot = f"page {i} of {len(pages)}" + (f"   certificate {number}" if number else "")
            page.text(0.92, 0.012, foot, fontsize=7.5, color="0.35", ha="right")
            pdf.savefig(page)
            plt.close(page)
    return buf.getvalue()


def write(cert: Certificate, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.html`` and ``<stem>.pdf`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    h = folder / f"{stem}.html"
    p = folder / f"{stem}.pdf"
    h.write_text(render_html(cert), encoding="utf-8")
    p.write_bytes(render_pdf(cert))
    return h, p
