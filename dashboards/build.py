"""Generate the committed dashboard JSON and provisioning files.

    python -m dashboards.build           # (re)write dashboards/json/*.json and provisioning/
    python -m dashboards.build --check   # exit 1 if a committed file differs from the code

``tmsbench dashboards build`` runs the same.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dash_m

from dashboards import calibration_drift, coil_thermal, manufacturing, provisioning, pulse_shape

ROOT = Path(__file__).resolve().parent
JSON_DIR = "json"

#: Every dashboard module (each has ``UID`` and ``build()``).
MODULES = (calibration_drift, pulse_shape, manufacturing, coil_thermal)


def dashboards() -> list[dash_m.Dashboard]:
    """Every dashboard, freshly built."""
    return [m.build() for m in MODULES]


def to_dict(d: dash_m.Dashboard) -> dict[str, Any]:
    """Plain JSON-compatible dict of a dashboard model."""
    return json.loads(json.dumps(d, cls=JSONEncoder))


def dashboard_text(d: dash_m.Dashboard) -> str:
    """The committed JSON text of one dashboard."""
    return json.dumps(d, cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"


def files() -> dict[str, str]:
    """Relative path (under ``dashboards/``) → text of every generated file."""
    out = {f"{JSON_DIR}/{d.uid}.json": dashboard_text(d) for d in dashboards()}
    out.update(provisioning.files())
    return out


def stale(root: Path = ROOT) -> list[str]:
    """Generated files that are missing or differ on disk (relative paths)."""
    return [
        rel
        for rel, text in files().items()
        if not (root / rel).is_file() or (root / rel).read_text(encoding="utf-8") != text
    ]


def write(root: Path = ROOT) -> list[str]:
    """Write every generated file that changed; returns their relative paths."""
    changed = []
    for rel, text in files().items():
        path = root / rel
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(rel)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m dashboards.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    parser.add_argument("--root", type=Path, default=ROOT, help="output directory")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale(args.root)
        for rel in bad:
            print(f"stale: {args.root / rel}")
        if not bad:
            print(f"dashboards: every generated file in {args.root} is up to date")
        return 1 if bad else 0
    for rel in write(args.root):
        print(f"wrote {args.root / rel}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
