"""Upload the datasource, the folder and the dashboards to Grafana's HTTP API.

Idempotent: every object is read first (by uid) and written only when it is
missing or differs, so a second push changes nothing. Routes (Grafana HTTP
API, through grafana-client, which sends ``Authorization: Bearer <token>``):

* ``GET /api/datasources/uid/:uid``, then ``POST /api/datasources`` (create)
  or ``PUT /api/datasources/uid/:uid`` (update);
* ``GET /api/folders/:uid``, then ``POST /api/folders``;
* ``GET /api/dashboards/uid/:uid``, then ``POST /api/dashboards/db`` with
  ``overwrite: true`` and the folder uid.

Grafana never returns ``secureJsonData``; a datasource whose secure header is
already set counts as unchanged (use ``force`` to rewrite it, e.g. after
rotating the InfluxDB token). Only the keys we send are compared, so settings
Grafana adds on its own do not cause a rewrite.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from dashboards import provisioning

#: Dashboard keys Grafana manages itself (not compared, not sent).
_SERVER_KEYS = ("id", "version")
MESSAGE = "tmsbench dashboards push"


@dataclass
class PushReport:
    """What a push did, per object (``kind:uid``)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True if anything was written."""
        return bool(self.created or self.updated)

    def lines(self) -> list[str]:
        """One human-readable line per object."""
        return (
            [f"created   {x}" for x in self.created]
            + [f"updated   {x}" for x in self.updated]
            + [f"unchanged {x}" for x in self.unchanged]
        )


def connect(
    url: str, token: str, *, timeout_s: float = 10.0, verify_tls: bool = True
) -> GrafanaApi:
    """A grafana-client API object for ``url`` (``http(s)://host[:port][/prefix]``).

    The token is held by grafana-client's ``TokenAuth`` (``Authorization:
    Bearer``); it is never part of the URL and never logged here.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if parts.username or parts.password:
        raise ValueError("put the token in the environment, not credentials in the URL")
    prefix = parts.path.strip("/")
    return GrafanaApi(
        auth=token,
        host=parts.hostname,
        port=parts.port,
        url_path_prefix=f"{prefix}/" if prefix else "",
        protocol=parts.scheme,
        verify=verify_tls,
        timeout=timeout_s,
    )


def _get_or_none(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except GrafanaClientError as exc:
        if getattr(exc, "status_code", None) == 404:
            return None
        raise


def _subset_equal(wanted: Any, current: Any) -> bool:
    """``wanted`` ⊆ ``current``: every key we set has our value (recursively for dicts)."""
    if isinstance(wanted, Mapping):
        return isinstance(current, Mapping) and all(
            k in current and _subset_equal(v, current[k]) for k, v in wanted.items()
        )
    return wanted == current


def datasource_unchanged(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """True if Grafana's datasource ``current`` already is ``wanted``."""
    plain = {k: v for k, v in wanted.items() if k != "secureJsonData"}
    if not _subset_equal(plain, current):
        return False
    secure_set = current.get("secureJsonFields") or {}
    return all(secure_set.get(k) for k in wanted.get("secureJsonData", {}))


def dashboard_unchanged(wanted: Mapping[str, Any], current: Mapping[str, Any] | None,
                        folder_uid: str) -> bool:
    """True if ``GET /api/dashboards/uid`` answer ``current`` already is ``wanted``."""
    if not current:
        return False
    remote = {k: v for k, v in (current.get("dashboard") or {}).items() if k not in _SERVER_KEYS}
    mine = {k: v for k, v in wanted.items() if k not in _SERVER_KEYS}
    return remote == mine and (current.get("meta") or {}).get("folderUid") == folder_uid


def push(
    api: GrafanaApi,
    datasource: Mapping[str, Any],
    dashboards: Iterable[Mapping[str, Any]],
    *,
    folder_uid: str = provisioning.FOLDER,
    folder_title: str = provisioning.FOLDER,
    force: bool = False,
) -> PushReport:
    """Create or update the datasource, the folder and ``dashboards`` (dicts with ``uid``)."""
    report = PushReport()
    _push_datasource(api, datasource, report, force)
    key = f"folder:{folder_uid}"
    if _get_or_none(api.folder.get_folder, folder_uid) is None:
        api.folder.create_folder(folder_title, uid=folder_uid)
        report.created.append(key)
    else:
        report.unchanged.append(key)
    for dash in dashboards:
        _push_dashboard(api, dash, folder_uid, report, force)
    return report


def _push_datasource(
    api: GrafanaApi, body: Mapping[str, Any], report: PushReport, force: bool
) -> None:
    uid = body["uid"]
    key = f"datasource:{uid}"
    current = _get_or_none(api.datasource.get_datasource_by_uid, uid)
    if current is None:
        api.datasource.create_datasource(dict(body))
        report.created.append(key)
    elif force or not datasource_unchanged(body, current):
        api.datasource.update_datasource_by_uid(uid, dict(body))
        report.updated.append(key)
    else:
        report.unchanged.append(key)


def _push_dashboard(
    api: GrafanaApi, dash: Mapping[str, Any], folder_uid: str, report: PushReport, force: bool
) -> None:
    uid = dash["uid"]
    key = f"dashboard:{uid}"
    current = _get_or_none(api.dashboard.get_dashboard, uid)
    if not force and dashboard_unchanged(dash, current, folder_uid):
        report.unchanged.append(key)
        return
    payload = copy.deepcopy({k: v for k, v in dash.items() if k not in _SERVER_KEYS})
    api.dashboard.update_dashboard(
        {"dashboard": payload, "folderUid": folder_uid, "overwrite": True, "message": MESSAGE}
    )
    (report.created if current is None else report.updated).append(key)
