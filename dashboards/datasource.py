"""The InfluxDB datasource the dashboards query, as Grafana provisioning and API bodies.

One uid (:data:`DATASOURCE_UID`) ties everything together: the provisioning
file, the ``tmsbench dashboards push`` API body and every panel's datasource
reference. Facts (source: the project design notes, "Results"): Grafana's
``influxdb`` datasource, ``access: proxy``, ``jsonData`` with ``dbName``,
``httpMode`` and ``version: InfluxQL``; InfluxDB 2.x is queried with InfluxQL
through its v1 compatibility API (a DBRP mapping from database to bucket) with
the header ``Authorization: Token <token>`` configured as ``httpHeaderName1`` /
``secureJsonData.httpHeaderValue1``.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.models import dashboard as dash

from dashboards.influxql import DATASOURCE_TYPE

DATASOURCE_UID = "tmsbench-influxdb"
DATASOURCE_NAME = "tmsbench InfluxDB"

#: Defaults matching ``benches/example-lab.toml`` ``[sinks.influxdb]``.
DEFAULT_INFLUX_URL = "http://127.0.0.1:8086"
DEFAULT_DATABASE = "tmsbench"

#: Environment variables the provisioning files read (Grafana expands ``$VAR``).
ENV_URL = "TMSBENCH_INFLUX_URL"
ENV_DATABASE = "TMSBENCH_INFLUX_DATABASE"
ENV_TOKEN = "TMSBENCH_INFLUX_READ_TOKEN"
ENV_USER = "TMSBENCH_INFLUX_USER"
ENV_PASSWORD = "TMSBENCH_INFLUX_PASSWORD"


def ref() -> dash.DataSourceRef:
    """Reference to the provisioned datasource (used by every panel and target)."""
    return dash.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


def datasource_body(
    *,
    url: str = DEFAULT_INFLUX_URL,
    database: str = DEFAULT_DATABASE,
    token: str | None = None,
    user: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Datasource definition (Grafana HTTP API / provisioning shape, camelCase keys).

    With ``token`` (InfluxDB 2.x via DBRP) the datasource sends
    ``Authorization: Token <token>``. With ``user``/``password`` (InfluxDB 1.x with
    authentication) it logs in as that user: ``user`` at the top level,
    ``secureJsonData.password`` (Grafana's InfluxDB provisioning docs, 1.x example).
    Secrets only ever go into ``secureJsonData``, which Grafana stores encrypted and
    never returns.
    """
    body: dict[str, Any] = {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "url": url,
        "isDefault": False,
        "jsonData": {"dbName": database, "httpMode": "POST", "version": "InfluxQL"},
    }
    if token is not None:
        body["jsonData"]["httpHeaderName1"] = "Authorization"
        body["secureJsonData"] = {"httpHeaderValue1": f"Token {token}"}
    if user is not None:
        body["user"] = user
    if password is not None:
        body.setdefault("secureJsonData", {})["password"] = password
    return body


def provisioning(*, influxdb2: bool) -> dict[str, Any]:
    """``provisioning/datasources/*.yaml`` content; values come from the environment."""
    ds = datasource_body(
        url=f"${{{ENV_URL}}}",
        database=f"${{{ENV_DATABASE}}}",
        token=f"${{{ENV_TOKEN}}}" if influxdb2 else None,
        user=None if influxdb2 else f"${{{ENV_USER}}}",
        password=None if influxdb2 else f"${{{ENV_PASSWORD}}}",
    )
    ds["editable"] = False
    return {"apiVersion": 1, "datasources": [ds]}
