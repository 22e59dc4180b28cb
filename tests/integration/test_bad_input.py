"""Malformed bench and spec files: one line naming file and key, exit 2, through every reader.

Each row of the table is a mistake a person makes (or a file that is not a bench file at
all) and the words the one-line message must contain, written here by hand. Each file goes
through pytest (the bench suite), ``tmsbench calibrate`` and ``tmsbench sim --describe``;
every one must end with exit 2, the message once, and no traceback.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benches" / "sim.toml"
SPEC = ROOT / "specs" / "magstim-rapid2-d70.toml"


def _bench(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    """A maker of a bench file: the shipped simulated bench with ``edit`` applied."""

    def make(tmp: Path) -> Path:
        data = tomllib.loads(BENCH.read_text())
        data["spec"] = str(SPEC)
        edit(data)
        path = tmp / "bench.toml"
        path.write_text(tomli_w.dumps(data))
        return path

    return make


def _raw(content: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / "bench.toml"
        path.write_bytes(content)
        return path

    return make


def _spec(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    """A bench file whose spec is the shipped spec with ``edit`` applied."""

    def make(tmp: Path) -> Path:
        spec = tomllib.loads(SPEC.read_text())
        edit(spec)
        (tmp / "spec.toml").write_text(tomli_w.dumps(spec))
        return _bench(lambda b: b.update(spec=str(tmp / "spec.toml")))(tmp)

    return make


def _folder_bench(tmp: Path) -> Path:
    (tmp / "bench.toml").mkdir()
    return tmp / "bench.toml"


def _folder_spec(tmp: Path) -> Path:
    (tmp / "specs").mkdir()
    return _bench(lambda b: b.update(spec=str(tmp / "specs")))(tmp)


def _chan(name: str, **kw: Any) -> Callable[[dict[str, Any]], None]:
    return lambda b: b["daq"]["channels"][name].update(kw)


CASES: list[tuple[str, Callable[[Path], Path], str, str]] = [
    # (id, maker, file the line names, words it must contain)
    ("missing-station", _bench(lambda b: b.pop("station")), "bench", "station: missing"),
    (
        "unknown-model",
        _bench(lambda b: b["stimulator"].update(model="rapid9")),
        "bench",
        "stimulator.model: 'rapid9' is not a Magstim model",
    ),
    (
        "unknown-key",
        _bench(lambda b: b["stimulator"].update(baud=9600)),
        "bench",
        "stimulator.baud: unknown key",
    ),
    ("not-utf8", _raw(b'station = "caf\xe9"\n'), "bench", "not UTF-8 text"),
    ("binary", _raw(bytes(range(256)) * 4), "bench", "bench.toml: not"),
    ("deep-nesting", _raw(b"a = " + b"[" * 50_000 + b"]" * 50_000 + b"\n"), "bench", "nested"),
    ("ten-megabytes", _raw(b"# padding\n" * 1_000_000), "bench", "at most 1 MB"),
    ("bench-is-a-folder", _folder_bench, "bench", "is a folder"),
    ("spec-is-a-folder", _folder_spec, "specs", "is a folder"),
    (
        "daq-scale-zero",
        _bench(_chan("cap_voltage", scale=0.0)),
        "bench",
        "daq.channels.cap_voltage: scale: must not be 0",
    ),
    (
        "daq-range-inverted",
        _bench(_chan("cap_voltage", min_val=5.0, max_val=-5.0)),
        "bench",
        "min_val 5.0 must be below max_val -5.0",
    ),
    (
        "output-points-fall",
        _spec(lambda s: s["output"].update(points=[[50.0, 80.0], [80.0, 70.0]])),
        "spec",
        "output: points: output falls",
    ),
    (
        "influx-port-not-a-number",
        _bench(
            lambda b: b["sinks"].update(
                influxdb={"url": "http://127.0.0.1:notaport", "database": "tms"}
            )
        ),
        "bench",
        "sinks.influxdb.url: InfluxDB url 'http://127.0.0.1:notaport' is not",
    ),
]

COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "pytest": lambda bench, tmp: [
        sys.executable, "-m", "pytest", str(ROOT / "tests" / "bench"), "-p", "no:cacheprovider",
        "--bench", str(bench), "--results", str(tmp / "results"),
        "--journal", str(tmp / "journal.sqlite"),
    ],
    "calibrate": lambda bench, tmp: [
        sys.executable, "-m", "harness.cli", "calibrate", "--serial", "SN-1",
        "--bench", str(bench), "--results", str(tmp / "results"),
        "--journal", str(tmp / "journal.sqlite"),
    ],
    "sim": lambda bench, tmp: [
        sys.executable, "-m", "harness.cli", "sim", "--bench", str(bench), "--describe",
    ],
}  # fmt: skip


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(
    ("make", "names", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_file_is_one_line_exit_2(
    tmp_path: Path, command: str, make: Callable[[Path], Path], names: str, words: str
) -> None:
    if command == "sim" and names.startswith("spec"):
        pytest.skip("tmsbench sim reads no spec")
    bench = make(tmp_path)
    proc = subprocess.run(
        COMMANDS[command](bench, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    lines = [line for line in out.splitlines() if words in line]
    assert len(lines) == 1, out[-3000:]  # said once, not once per test
    assert str(tmp_path / names) in lines[0] or f"{names}.toml" in lines[0], lines[0]
    assert not (tmp_path / "journal.sqlite").exists()  # nothing started, nothing recorded


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["demo-history", "--devices", "-1"], "argument --devices: must be a whole number above 0"),
        (["demo-history", "--days", "inf"], "argument --days: must be a finite number above 0"),
        (["calibrate", "--serial", "S", "--sim-speed", "0"], "argument --sim-speed: must be a"),
        (["export", "--journal", "j.sqlite", "--since", "yesterday"], "'yesterday' is not a time"),
        (["export", "--kind", "bogus"], "argument --kind: invalid choice: 'bogus'"),
        (
            ["sync", "--influx-url", "http://127.0.0.1:notaport", "--database", "tms"],
            "InfluxDB url 'http://127.0.0.1:notaport' is not an http(s)://host[:port] URL",
        ),
    ],
    ids=["devices-negative", "days-infinite", "speed-zero", "since-words", "kind-bogus",
         "port-not-a-number"],
)
def test_bad_argument_is_one_line_exit_2(tmp_path: Path, argv: list[str], words: str) -> None:
    (tmp_path / "j.sqlite").touch()
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if words in line], proc.stderr
