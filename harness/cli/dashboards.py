"""``tmsbench dashboards build|push``: generate the Grafana dashboards, upload them.

``build`` regenerates ``json/*.json`` and the provisioning files (same as
``python -m dashboards.build``) in ``--out DIR``: by default the ``dashboards/``
folder of the checkout the package runs from (the committed files), or
``./dashboards`` when tmsbench is installed from a wheel (the copies shipped in
the package are never overwritten). ``push`` uploads the datasource, the folder
and the dashboards through Grafana's HTTP API; it reads the API token from an
environment variable (never from the command line, never printed) and writes
only what differs, so running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_URL_ENV = "TMSBENCH_GRAFANA_URL"
DEFAULT_TOKEN_ENV = "TMSBENCH_GRAFANA_TOKEN"
DEFAULT_URL = "http://127.0.0.1:3000"


def default_out() -> Path:
    """The checkout's ``dashboards/`` folder, or ``./dashboards`` for an installed package."""
    from dashboards import build

    in_checkout = (build.ROOT.parent / "pyproject.toml").is_file()
    return build.ROOT if in_checkout else Path("dashboards")


def run_build(args: argparse.Namespace) -> int:
    """``tmsbench dashboards build [--check] [--out DIR]``."""
    from dashboards import build

    out = Path(args.out) if args.out else default_out()
    return build.main([*(["--check"] if args.check else []), "--root", str(out)])


def run_push(args: argparse.Namespace) -> int:
    """``tmsbench dashboards push``."""
    from grafana_client.client import GrafanaException
    from requests.exceptions import RequestException

    from dashboards import build, datasource, publish

    token = os.environ.get(args.token_env, "")
    if not token:
        print(
            f"tmsbench dashboards push: set the Grafana API token in ${args.token_env}",
            file=sys.stderr,
        )
        return 2
    influx_token = None
    if args.influx_token_env:
        influx_token = os.environ.get(args.influx_token_env, "")
        if not influx_token:
            print(
                f"tmsbench dashboards push: ${args.influx_token_env} is empty or unset",
                file=sys.stderr,
            )
            return 2
    url = args.url or os.environ.get(DEFAULT_URL_ENV) or DEFAULT_URL
    body = datasource.datasource_body(
        url=args.influx_url, database=args.database, token=influx_token
    )
    try:
        api = publish.connect(url, token, timeout_s=args.timeout, verify_tls=not args.insecure)
        report = publish.push(
            api, body, [build.to_dict(d) for d in build.dashboards()], force=args.force
        )
    except (GrafanaException, RequestException, ValueError) as exc:
        # Messages come from Grafana or requests; neither contains the token.
        print(f"tmsbench dashboards push: {url}: {exc}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    print("changed" if report.changed else "nothing to change")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tmsbench dashboards build|push``."""
    p = sub.add_parser("dashboards", help="Grafana dashboards: generate and upload")
    cmds = p.add_subparsers(dest="dashboards_command", required=True, metavar="ACTION")

    b = cmds.add_parser("build", help="regenerate dashboards/json and provisioning files")
    b.add_argument("--check", action="store_true", help="only check the files in the folder")
    b.add_argument(
        "--out",
        metavar="DIR",
        help="folder for json/ and provisioning/ (default: the checkout's "
        "dashboards/, or ./dashboards when installed from a wheel)",
    )
    b.set_defaults(func=run_build)

    u = cmds.add_parser("push", help="upload datasource and dashboards to Grafana")
    u.add_argument("--url", help=f"Grafana URL (default ${DEFAULT_URL_ENV} or {DEFAULT_URL})")
    u.add_argument(
        "--token-env",
        default=DEFAULT_TOKEN_ENV,
        help=f"NAME of the env var holding the Grafana API token (default {DEFAULT_TOKEN_ENV})",
    )
    u.add_argument(
        "--influx-url", default="http://127.0.0.1:8086", help="InfluxDB URL as Grafana sees it"
    )
    u.add_argument("--database", default="tmsbench", help="InfluxDB database (or DBRP name)")
    u.add_argument(
        "--influx-token-env",
        help="InfluxDB 2.x: NAME of the env var with the read token for Grafana",
    )
    u.add_argument("--force", action="store_true", help="write even what looks unchanged")
    u.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    u.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout (s)")
    u.set_defaults(func=run_push)
