"""The signature manifest page of an approved certificate (21 CFR Part 11 §11.50).

Each signature shows the signer's printed name, the date and time (UTC) of
signing and its meaning (reviewed, approved); the page also names the SHA-256 of
the file each signature was applied to, which binds it to that record. The page
is drawn with matplotlib and appended to the issued PDF with pypdf, so the
certificate's own pages stay exactly as issued.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from pypdf import PdfReader, PdfWriter

MEANINGS = {
    "reviewed": "the results were reviewed and found complete",
    "approved": "the certificate is approved for release",
}


def manifest_page(title: str, signatures: Sequence[dict[str, Any]]) -> bytes:
    """One A4 PDF page listing ``signatures`` (dicts: name, signer, meaning, utc, signed_sha256)."""
    buf = io.BytesIO()
    with PdfPages(buf) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))  # A4 portrait, like the certificate
        fig.text(0.08, 0.95, "Signature manifest", fontsize=16, weight="bold")
        for i, line in enumerate(textwrap.wrap(title, width=80)):
            fig.text(0.08, 0.92 - 0.02 * i, line, fontsize=10, color="0.3")
        y = 0.86
        for n, s in enumerate(signatures, 1):
            fig.text(0.08, y, f"{n}. {s['meaning'].upper()}", fontsize=12, weight="bold")
            rows = (
                ("signed by", f"{s['name']} (signer id {s['signer']})"),
                ("date and time", s["utc"]),
                ("meaning", f"{s['meaning']}: {MEANINGS.get(s['meaning'], '')}"),
                ("record signed", f"SHA-256 {s['signed_sha256']}"),
            )
            y -= 0.028
            for k, v in rows:
                fig.text(0.10, y, f"{k}:", fontsize=9, color="0.35")
                for line in textwrap.wrap(str(v), width=70) or [""]:
                    fig.text(0.30, y, line, fontsize=9, family="monospace")
                    y -= 0.018
            y -= 0.02
        note = (
            "Electronic signatures under 21 CFR Part 11: signer id and password were given "
            "at each signing; each signature is a chained row of the station's journal."
        )
        for i, line in enumerate(textwrap.wrap(note, width=105)):
            fig.text(0.08, 0.06 - 0.015 * i, line, fontsize=7.5, color="0.35")
        pdf.savefig(fig)
        plt.close(fig)
    return buf.getvalue()



def with_manifest(pdf: bytes, drop_last: int, page: bytes) -> bytes:
    """``pdf`` without its last ``drop_last`` pages (an older manifest), then ``page``."""
    out = PdfWriter()
    src = PdfReader(io.BytesIO(pdf))
    keep = len(src.pages) - drop_last
    for p in src.pages[:keep]:
        out.add_page(p)
    for p in PdfReader(io.BytesIO(page)).pages:
        out.add_page(p)
    buf = io.BytesIO()
    out.write(buf)
    return buf.getvalue()
