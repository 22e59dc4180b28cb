"""`tmsbench trace` finds every certificate issued with a current monitor that read high.

The simulated current monitor of a second bench reads 2 % high (sim fault
``reference_gain_error``): every check still passes, nothing in the run can see it
(the device's output looks 2 % higher, within its tolerance); only the instrument's
serial leads back to the certificates it helped issue.
"""

from __future__ import annotations

import csv
import io
import tomllib
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import tomli_w

from harness.cli import main
from harness.history import AgingLaw, demo_history

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SPEED = 200.0


def _bench(tmp: Path, monitor: str, gain_error_pct: float) -> Path:
    data = tomllib.loads((ROOT / "benches" / "sim.toml").read_text())
    data["spec"] = str(ROOT / "specs" / "magstim-rapid2-d70.toml")
    data["references"]["current_monitor"]["serial"] = monitor
    data["sim"]["faults"] = {"reference_gain_error": gain_error_pct}
    path = tmp / f"bench-{monitor}.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def _trace(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        rc = main(["trace", *argv])
    return rc, out.getvalue()


def test_trace_lists_exactly_the_certificates_of_the_monitor(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    runs = {}
    for monitor, error, law in (
        ("CM-GOOD", 0.0, AgingLaw("DUT-A", 0.0, 0.0, noise=0.0)),
        ("CM-HIGH", 2.0, AgingLaw("DUT-B", 0.0, 0.0, noise=0.0)),
    ):
        (hist,) = demo_history(
            days=6, every_days=3, bench=str(_bench(tmp_path, monitor, error)),
            journal=str(journal), results=str(tmp_path / "results"), sim_speed=SPEED,
            laws=[law], seed=3, report=None,
        )  # fmt: skip
        runs[monitor] = hist
        assert hist.verdicts == ("pass", "pass", "pass")  # the run cannot see the monitor
    good, high = runs["CM-GOOD"], runs["CM-HIGH"]
    ratio = high.output_A_per_us[0] / good.output_A_per_us[0]
    assert ratio == pytest.approx(1.02, abs=0.002)  # the output only *looks* 2 % higher

    rc, text = _trace("--instrument", "CM-HIGH", "--journal", str(journal), "--csv")
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(text)))
    certs = sorted({r["certificate"] for r in rows if r["certificate"]})
    issued = sorted(p.stem for p in (tmp_path / "results" / high.run_id).glob("certificate-*.pdf"))
    assert len(issued) == 3 and certs == issued  # every check's certificate, no other
    assert {r["dut_serial"] for r in rows} == {"DUT-B"}
    assert {r["run_id"] for r in rows} == {high.run_id}

    rc, text = _trace("--instrument", "CM-GOOD", "--journal", str(journal))
    assert rc == 0 and "1 runs, 1 DUTs (DUT-A), 3 certificates" in text
    assert high.run_id not in text
    rc, text = _trace("--instrument", "CM-HIGH", "--journal", str(journal), "--since", "2200-01-01")
    assert rc == 0 and "no run" in text
