"""The bench suite: what a hardware engineer runs against a bench file.

Parametrisation comes from the spec file (waveforms, intensity levels), so the
same suite runs on any stimulator the bench and spec describe.
"""

from __future__ import annotations

import pytest

from harness.config import ConfigError, SpecConfig, load_bench, load_spec
from harness.pytest_plugin import bench_option
from harness.session import DEFAULT_BENCH


def _spec_for(config: pytest.Config) -> SpecConfig | None:
    try:
        spec_opt = config.getoption("--spec")
        if spec_opt:
            return load_spec(spec_opt)
        bench = load_bench(bench_option(config) or DEFAULT_BENCH)  # under -n: this worker's
        path = bench.spec_path()
        return load_spec(path) if path else None
    except ConfigError:
        return None  # reported properly when the session opens


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    spec = _spec_for(metafunc.config)
    if "waveform" in metafunc.fixturenames:
        names = spec.waveforms if spec else ["biphasic"]
        metafunc.parametrize("waveform", names)
    if "level" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("intensity")
        levels = list(marker.args) if marker else [30, 60, 90]
        metafunc.parametrize("level", levels, ids=[f"{p:g}pct" for p in levels])
