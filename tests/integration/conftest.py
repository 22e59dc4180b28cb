"""Integration fixtures: real InfluxDB / VictoriaMetrics servers on loopback ports."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest_servers import influxdb, influxdb_auth, victoria_metrics  # noqa: F401
