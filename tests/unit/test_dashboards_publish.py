"""``tmsbench dashboards push`` against a loopback stand-in for Grafana's HTTP API.

No Grafana server can be installed here, so this is a contract test: the
stand-in checks what Grafana's API expects (methods, uid routes, the Bearer
token, JSON bodies) and keeps state, so a second push can be shown to change
nothing.
"""

from __future__ import annotations

import copy
import http.server
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's dashboards/

from dashboards import build, datasource, publish
from harness import cli
from harness.cli import dashboards as dashboards_cmd

TOKEN = "glsa_test-token-0123456789"
DASHBOARD_UIDS = sorted(m.UID for m in build.MODULES)


class FakeGrafana:
    """State and request log of the stand-in."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.datasources: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    # -- routes: (status, body)
    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[:1] != ["api"]:
            return self.fail(404, f"not an API path: {path}")
        route = parts[1:]
        if route[:2] == ["datasources", "uid"] and len(route) == 3:
            return self.datasource_uid(method, route[2], body)
        if route == ["datasources"] and method == "POST":
            return self.create_datasource(body)
        if route[:1] == ["folders"]:
            return self.folder(method, route[1:], body)
        if route[:2] == ["dashboards", "uid"] and len(route) == 3 and method == "GET":
            return self.get_dashboard(route[2])
        if route == ["dashboards", "db"] and method == "POST":
            return self.save_dashboard(body)
        return self.fail(404, f"unexpected {method} {path}")

    def fail(self, status: int, message: str) -> tuple[int, Any]:
        if status != 404 or "unexpected" in message or "not an API" in message:
            self.errors.append(message)
        return status, {"message": message}

    @staticmethod
    def _check_ds_body(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "datasource body must be a JSON object"
        for key in ("uid", "name", "type", "access", "url", "jsonData"):
            if key not in body:
                return f"datasource body lacks {key}"
        if body["access"] not in ("proxy", "direct"):
            return "access must be proxy or direct"
        return None

    def _stored_ds(self, body: dict[str, Any], ds_id: int, version: int) -> dict[str, Any]:
        stored = {k: copy.deepcopy(v) for k, v in body.items() if k != "secureJsonData"}
        stored.update(id=ds_id, orgId=1, version=version, readOnly=False, basicAuth=False,
                      typeLogoUrl="public/app/plugins/datasource/influxdb/img/influxdb_logo.svg")
        # Grafana never returns secure values, only which ones are set.
        stored["secureJsonFields"] = {k: True for k in body.get("secureJsonData", {})}
        return stored

    def create_datasource(self, body: Any) -> tuple[int, Any]:
        problem = self._check_ds_body(body)
        if problem:
            return self.fail(400, problem)
        if body["uid"] in self.datasources:
            return self.fail(409, "data source with the same uid already exists")
        stored = self._stored_ds(body, self._id(), 1)
        self.datasources[body["uid"]] = stored
        return 200, {"datasource": stored, "id": stored["id"], "message": "Datasource added"}

    def datasource_uid(self, method: str, uid: str, body: Any) -> tuple[int, Any]:
        current = self.datasources.get(uid)
        if method == "GET":
            return (200, current) if current else self.fail(404, "Data source not found")
        if method == "PUT":
            if current is None:
                return self.fail(404, "Data source not found")
            problem = self._check_ds_body(body)
            if problem or body["uid"] != uid:
                return self.fail(400, problem or "uid mismatch")
            stored = self._stored_ds(body, current["id"], current["version"] + 1)
            if not body.get("secureJsonData"):  # omitted secure fields keep their values
                stored["secureJsonFields"] = current["secureJsonFields"]
            self.datasources[uid] = stored
            return 200, {"datasource": stored, "id": stored["id"], "message": "Datasource updated"}
        return self.fail(404, f"unexpected {method} datasource route")

    def folder(self, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        if method == "GET" and len(rest) == 1:
            found = self.folders.get(rest[0])
            return (200, found) if found else self.fail(404, "folder not found")
        if method == "POST" and not rest:
            if not isinstance(body, dict) or not body.get("title") or not body.get("uid"):
                return self.fail(400, "folder needs title and uid")
            if body["uid"] in self.folders:
                return self.fail(409, "a folder with the same uid already exists")
            self.folders[body["uid"]] = {"id": self._id(), "uid": body["uid"],
                                         "title": body["title"], "version": 1}
            return 200, self.folders[body["uid"]]
        return self.fail(404, "unexpected folder route")

    def get_dashboard(self, uid: str) -> tuple[int, Any]:
        found = self.dashboards.get(uid)
        if not found:
            return self.fail(404, "Dashboard not found")
        return 200, copy.deepcopy(found)

    def save_dashboard(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("dashboard"), dict):
            return self.fail(400, "body needs a dashboard object")
        dash = body["dashboard"]
        if not dash.get("uid") or not dash.get("title"):
            return self.fail(400, "dashboard needs uid and title")
        if body.get("overwrite") is not True:
            return self.fail(412, "push must overwrite (version-mismatched otherwise)")
        folder = body.get("folderUid")
        if folder not in self.folders:
            return self.fail(400, f"folder {folder!r} not found")
        old = self.dashboards.get(dash["uid"])
        version = old["dashboard"]["version"] + 1 if old else 1
        stored = copy.deepcopy(dash)
        stored.update(id=old["dashboard"]["id"] if old else self._id(), version=version)
        self.dashboards[dash["uid"]] = {
            "dashboard": stored,
            "meta": {"folderUid": folder, "slug": dash["uid"], "version": version},
        }
        return 200, {"id": stored["id"], "uid": dash["uid"], "status": "success",
                     "version": version, "url": f"/d/{dash['uid']}"}


def _handler(state: FakeGrafana) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _serve(self) -> None:
            path = self.path.split("?", 1)[0]
            state.log.append((self.command, path))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                self._reply(401, {"message": "invalid API key"})
                return
            body = None
            if self.command in ("POST", "PUT"):
                if not self.headers.get("Content-Type", "").startswith("application/json"):
                    state.errors.append(f"{self.command} {path} without a JSON content type")
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._reply(400, {"message": "bad JSON"})
                    return
            status, answer = state.handle(self.command, path, body)
            self._reply(status, answer)

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    state = FakeGrafana(TOKEN)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def push(url: str, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    monkeypatch.setenv("GRAFANA_TEST_TOKEN", TOKEN)
    return cli.main(["dashboards", "push", "--url", url, "--token-env", "GRAFANA_TEST_TOKEN",
                     *extra])


def test_first_push_creates_everything_second_push_changes_nothing(grafana, monkeypatch, capsys):
    state, url = grafana
    assert push(url, monkeypatch) == 0
    out = capsys.readouterr().out
    assert TOKEN not in out
    assert state.errors == []
    assert set(state.datasources) == {datasource.DATASOURCE_UID}
    ds = state.datasources[datasource.DATASOURCE_UID]
    assert ds["type"] == "influxdb" and ds["access"] == "proxy"
    assert ds["jsonData"] == {"dbName": "tmsbench", "httpMode": "POST", "version": "InfluxQL"}
    assert sorted(state.dashboards) == DASHBOARD_UIDS
    for uid, saved in state.dashboards.items():
        assert saved["meta"]["folderUid"] == "tmsbench"
        committed = json.loads((build.ROOT / "json" / f"{uid}.json").read_text())
        mine = {k: v for k, v in saved["dashboard"].items() if k not in ("id", "version")}
        assert mine == committed
    assert ("POST", "/api/datasources") in state.log
    assert state.log.count(("POST", "/api/dashboards/db")) == len(DASHBOARD_UIDS)
    assert f"created   datasource:{datasource.DATASOURCE_UID}" in out

    versions = {uid: d["dashboard"]["version"] for uid, d in state.dashboards.items()}
    snapshot = copy.deepcopy((state.datasources, state.folders, state.dashboards))
    state.log.clear()
    assert push(url, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "nothing to change" in out and "created" not in out and "updated" not in out
    assert {m for m, _ in state.log} == {"GET"}, state.log  # reads only
    assert ("GET", f"/api/datasources/uid/{datasource.DATASOURCE_UID}") in state.log
    assert (state.datasources, state.folders, state.dashboards) == snapshot
    assert {uid: d["dashboard"]["version"] for uid, d in state.dashboards.items()} == versions
    assert state.errors == []


def test_push_rewrites_only_what_differs(grafana, monkeypatch, capsys):
    state, url = grafana
    assert push(url, monkeypatch) == 0
    uid = DASHBOARD_UIDS[0]
    state.dashboards[uid]["dashboard"]["title"] = "edited in the UI"
    state.datasources[datasource.DATASOURCE_UID]["url"] = "http://elsewhere:8086"
    capsys.readouterr()
    state.log.clear()
    assert push(url, monkeypatch) == 0
    out = capsys.readouterr().out
    assert f"updated   dashboard:{uid}" in out
    assert f"updated   datasource:{datasource.DATASOURCE_UID}" in out
    writes = [x for x in state.log if x[0] != "GET"]
    assert writes == [("PUT", f"/api/datasources/uid/{datasource.DATASOURCE_UID}"),
                      ("POST", "/api/dashboards/db")]
    assert state.dashboards[uid]["dashboard"]["title"] != "edited in the UI"
    assert state.dashboards[uid]["dashboard"]["version"] == 2


def test_influxdb2_token_goes_to_secure_json_data_and_counts_as_set(grafana, monkeypatch, capsys):
    state, url = grafana
    monkeypatch.setenv("INFLUX_READ", "influx-secret")
    args = ("--influx-token-env", "INFLUX_READ", "--database", "lab")
    assert push(url, monkeypatch, *args) == 0
    ds = state.datasources[datasource.DATASOURCE_UID]
    assert ds["secureJsonFields"] == {"httpHeaderValue1": True}
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert "influx-secret" not in json.dumps(ds)
    assert "influx-secret" not in capsys.readouterr().out
    state.log.clear()
    assert push(url, monkeypatch, *args) == 0
    assert {m for m, _ in state.log} == {"GET"}
    assert push(url, monkeypatch, *args, "--force") == 0  # e.g. after rotating the token
    assert state.datasources[datasource.DATASOURCE_UID]["version"] == 2


def test_wrong_token_fails_cleanly_without_printing_it(grafana, monkeypatch, capsys):
    state, url = grafana
    monkeypatch.setenv("BAD_TOKEN", "not-the-token")
    rc = cli.main(["dashboards", "push", "--url", url, "--token-env", "BAD_TOKEN"])
    err = capsys.readouterr().err
    assert rc == 1 and "Unauthorized" in err and "not-the-token" not in err
    assert state.datasources == {} and state.dashboards == {}


def test_missing_token_variable_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    rc = cli.main(["dashboards", "push", "--url", "http://127.0.0.1:9", "--token-env",
                   "NO_SUCH_TOKEN_VAR"])
    assert rc == 2 and "NO_SUCH_TOKEN_VAR" in capsys.readouterr().err


def test_url_with_path_prefix_and_credentials():
    api = publish.connect("https://grafana.example/sub/path", "t")
    assert api.client.url == "https://grafana.example/sub/path/api"
    with pytest.raises(ValueError):
        publish.connect("http://user:pw@grafana.example", "t")
    with pytest.raises(ValueError):
        publish.connect("ftp://grafana.example", "t")


def test_command_defaults_match_the_datasource_defaults():
    parser = cli.build_parser()
    args = parser.parse_args(["dashboards", "push"])
    assert args.influx_url == datasource.DEFAULT_INFLUX_URL
    assert args.database == datasource.DEFAULT_DATABASE
    assert args.token_env == dashboards_cmd.DEFAULT_TOKEN_ENV


def test_build_command_check(capsys):
    assert cli.main(["dashboards", "build", "--check"]) == 0
