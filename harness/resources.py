"""Files a run needs besides code, shipped inside the ``harness`` package.

``harness/data/`` mirrors the checkout's layout: ``benches/``, ``specs/`` and
``tests/bench/`` (the bench suite) with ``pytest.ini`` beside them. In a checkout
the three folders are symlinks to the checkout's own, so every path below
resolves to the file the README names (``benches/sim.toml``, ``tests/bench``);
in an installed wheel they are the copies setuptools packed. Paths are found
with :mod:`importlib.resources`, never relative to a repository root.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def data_dir() -> Path:
    """``harness/data`` as a folder on disk (pytest and TOML loading need real files)."""
    root = files("harness") / "data"
    if not isinstance(root, Path):  # a zip import: pytest cannot collect from it
        raise RuntimeError(f"tmsbench: {root} is not a folder; install tmsbench unzipped")
    return root


def data_path(*parts: str) -> Path:
    """A shipped file or folder, symlinks resolved (in a checkout: the checkout's own)."""
    return data_dir().joinpath(*parts).resolve()


def bench_file(name: str = "sim.toml") -> Path:
    """A shipped bench file; ``sim.toml`` is the embedded default simulated bench."""
    return data_path("benches", name)


def suite_dir() -> Path:
    """The bench suite (``tests/bench``)."""
    return data_path("tests", "bench")


def suite_args(*targets: str | Path) -> list[str]:
    """pytest arguments that run ``targets`` (default: the whole suite) as the suite.

    ``-c`` takes the shipped ``pytest.ini`` (so a project the command happens to run in
    lends no options); ``--rootdir`` is the folder holding ``tests/`` so the test ids, and
    the ``test`` tag they become in the journal and InfluxDB, are ``tests/bench/...``
    from a checkout and from a wheel alike.
    """
    suite = suite_dir()
    paths = [str(t) for t in targets] or [str(suite)]
    return [*paths, "-c", str(data_dir() / "pytest.ini"), "--rootdir", str(suite.parents[1])]
