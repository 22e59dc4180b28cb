"""Run context: who, where, what device, which code — attached to every result."""

from __future__ import annotations

import getpass
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import BenchConfig


def git_revision(cwd: Path | None = None) -> str:
    """Short git revision of the harness checkout (``+dirty`` if modified), or ``unknown``."""
    here = cwd or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short=10", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev}+dirty" if dirty else rev


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus random suffix (``20261125T134501Z-3f9a1c``)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class RunContext:
    """Context of one run; ``tags()`` are the bounded ones safe as InfluxDB tags."""

    run_id: str
    station: str
    operator: str
    stimulator_model: str
    stimulator_serial: str
    coil_model: str
    coil_serial: str
    bench_file: str
    spec_name: str
    git_revision: str
    simulated: bool
    started_ns: int = field(default_factory=time.time_ns)
    spec_version: str = ""
    spec_sha256: str = ""  # the spec's content hash (harness.config.content_sha256)
    #: Why this is an engineering run, not a release test (empty: a release test).
    engineering: tuple[str, ...] = ()
    #: The reference instruments of the measurement chain, one line each (role: identity).
    references: tuple[str, ...] = ()
    #: Why this run's results are not traceable (a reference past its due date); () if they are.
    not_traceable: tuple[str, ...] = ()

    @property
    def run_type(self) -> str:
        """``release`` (versioned, approved, unchanged spec) or ``engineering``."""
        return "engineering" if self.engineering else "release"

    def method(self) -> dict[str, str]:
        """The method that judged this run: spec name, version, content hash, run type."""
        out = {
            "spec_name": self.spec_name,
            "spec_version": self.spec_version,
            "spec_sha256": self.spec_sha256,
            "run_type": self.run_type,
        }
        if self.engineering:
            out["engineering_reasons"] = "; ".join(self.engineering)
        if self.references:
            out["references"] = "; ".join(self.references)
        if self.not_traceable:
            out["traceable"] = "no: " + "; ".join(self.not_traceable)
        return out

    @classmethod
    def from_bench(
        cls,
        bench: BenchConfig,
        spec_name: str,
        *,
        station: str | None = None,
        operator: str | None = None,
        dut_serial: str | None = None,
        simulated: bool = False,
        run_id: str | None = None,
    ) -> RunContext:
        """Context from a bench file; command-line values override the file's."""
        return cls(
            run_id=run_id or new_run_id(),
            station=station or bench.station,
            operator=operator or os.environ.get("TMSBENCH_OPERATOR") or _user(),
            stimulator_model=bench.stimulator.model,
            stimulator_serial=dut_serial or bench.stimulator.serial,
            coil_model=bench.coil.model,
            coil_serial=bench.coil.serial,
            bench_file=bench.source,
            spec_name=spec_name,
            git_revision=git_revision(),
            simulated=simulated,
        )

    def tags(self) -> dict[str, str]:
        """Bounded-cardinality tags (station, models, serials)."""
        return {
            "station": self.station,
            "stimulator_model": self.stimulator_model,
            "stimulator_serial": self.stimulator_serial,
            "coil_model": self.coil_model,
            "coil_serial": self.coil_serial,
        }

    def describe(self) -> dict[str, str]:
        """Everything, as text, for report headers."""
        return {
            "run id": self.run_id,
            "station": self.station,
            "operator": self.operator,
            "stimulator": f"{self.stimulator_model} #{self.stimulator_serial}",
            "coil": f"{self.coil_model} #{self.coil_serial}",
            "bench file": Path(self.bench_file).name
            + (" (simulated bench)" if self.simulated else ""),
            "spec": self.spec_name
            + (f" version {self.spec_version}" if self.spec_version else " (no version)")
            + (f", content sha256 {self.spec_sha256[:16]}…" if self.spec_sha256 else ""),
            "run type": "release test"
            if not self.engineering
            else "ENGINEERING RUN (not a release test): " + "; ".join(self.engineering),
            "harness revision": self.git_revision,
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started_ns / 1e9)),
            **({"reference instruments": "; ".join(self.references)} if self.references else {}),
            "traceability": "NOT TRACEABLE: " + "; ".join(self.not_traceable)
            if self.not_traceable
            else "traceable (every reference instrument within its calibration)",
        }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
