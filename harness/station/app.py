"""The station's web application (Starlette): pages, the run's API and its live events.

Routes: ``/`` run page, ``/events`` server-sent events of the current run, ``/api/state``,
``/api/start``, ``/api/stop``; ``/results``, ``/results/run/{id}``, ``/device/{serial}``,
``/drift`` (figures: ``/drift/overview.png``, ``/device/{serial}/drift.png``);
``/files/...`` serves reports and certificates from the results folder only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from harness.record.schema import JournalError
from harness.station import results
from harness.station.drift_view import drift_view
from harness.station.events import read_events
from harness.station.plans import Plan
from harness.station.runner import Runner, RunRefused

HERE = Path(__file__).parent
POLL_S = 0.2  # how often the event stream looks at the event file


@dataclass
class Station:
    """What the pages need: the runner, the plans, the bench's facts and where files are."""

    runner: Runner
    plans: dict[str, Plan]
    journal: Path
    results_dir: Path
    bench_name: str
    simulated: bool
    station_name: str

    def file_link(self, path: str | Path) -> str | None:
        """``/files/...`` for a file inside the results folder (None outside it)."""
        try:
            rel = Path(path).resolve().relative_to(self.results_dir.resolve())
        except ValueError:
            return None
        return f"/files/{rel.as_posix()}"

    def state(self) -> dict[str, Any]:
        run = self.runner.current
        return {
            "simulated": self.simulated,
            "bench": self.bench_name,
            "station": self.station_name,
            "plans": [{"id": p.id, "title": p.title, "description": p.description}
                      for p in self.plans.values()],
            "run": run.describe() if run else None,
        }


def create_app(station: Station) -> Starlette:
    """The ASGI application for ``station``."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    def page(request: Request, name: str, status: int = 200, **ctx: Any) -> Response:
        return templates.TemplateResponse(request, name, {"st": station, **ctx},
                                          status_code=status)

    async def run_page(request: Request) -> Response:
        return page(request, "run.html")

    async def api_state(request: Request) -> Response:
        return JSONResponse(station.state())

    async def api_start(request: Request) -> Response:
        body = await request.json()
        plan = station.plans.get(str(body.get("plan", "")))
        if plan is None:
            return JSONResponse({"error": f"no plan {body.get('plan')!r}"}, status_code=400)
        tests = [str(t) for t in body.get("tests") or []]
        try:
            run = station.runner.start(plan, str(body.get("operator", "")),
                                       str(body.get("serial", "")), tests)
        except RunRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"run": run.describe()})

    async def api_stop(request: Request) -> Response:
        try:
            run = station.runner.stop()
        except RunRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"run": run.describe()})

    async def events(request: Request) -> Response:
        return EventSourceResponse(_stream(station, request))

    async def files(request: Request) -> Response:
        rel = Path(request.path_params["path"])
        root = station.results_dir.resolve()
        path = (root / rel).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return JSONResponse({"error": f"no file {rel}"}, status_code=404)
        return FileResponse(path)

    async def results_page(request: Request) -> Response:
        q = request.query_params
        filters = {k: q.get(k, "").strip() for k in ("serial", "station", "verdict", "date")}
        rows = results.runs(station.journal, **filters)
        return page(request, "results.html", rows=rows, filters=filters)

    async def run_result(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        row = next((r for r in results.runs(station.journal) if r.run_id == run_id), None)
        folder = station.results_dir / run_id
        links = [(p.name, station.file_link(p)) for p in sorted(folder.glob("*"))
                 if p.suffix in (".html", ".pdf")] if folder.is_dir() else []
        return page(request, "run_result.html", row=row, run_id=run_id, links=links,
                    measurements=results.run_measurements(station.journal, run_id))

    async def device(request: Request) -> Response:
        serial = request.path_params["serial"]
        return page(request, "device.html", serial=serial,
                    checks=results.calibration_history(station.journal, serial),
                    runs=results.runs(station.journal, serial=serial))

    async def drift(request: Request) -> Response:
        view = await asyncio.to_thread(drift_view, station.journal)
        runs = results.runs(station.journal)
        return page(
            request, "drift.html", view=view,
            days=results.pass_rate_by_station_day(runs),
            per_day=results.runs_per_day_by_verdict(runs),
            failures=results.failures_by_characteristic(station.journal),
        )

    async def drift_png(request: Request) -> Response:
        from harness.drift.plot import overview_plot

        view = await asyncio.to_thread(drift_view, station.journal)
        if not view.drifts:
            return Response(status_code=404)
        png = await asyncio.to_thread(overview_plot, view.histories, view.drifts)
        return Response(png, media_type="image/png")

    async def device_png(request: Request) -> Response:
        from harness.drift.plot import device_plot

        serial = request.path_params["serial"]
        view = await asyncio.to_thread(drift_view, station.journal)
        for h, d in zip(view.histories, view.drifts, strict=True):
            if h.serial == serial:
                png = await asyncio.to_thread(device_plot, h, d)
                return Response(png, media_type="image/png")
        return Response(status_code=404)

    routes = [
        Route("/", run_page),
        Route("/api/state", api_state),
        Route("/api/start", api_start, methods=["POST"]),
        Route("/api/stop", api_stop, methods=["POST"]),
        Route("/events", events),
        Route("/files/{path:path}", files),
        Route("/results", results_page),
        Route("/results/run/{run_id}", run_result),
        Route("/device/{serial}", device),
        Route("/device/{serial}/drift.png", device_png),
        Route("/drift", drift),
        Route("/drift/overview.png", drift_png),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # the server is stopping (Ctrl-C, SIGTERM): stop a run still going, as Stop does,
        # and wait for it to disarm and write its report
        await asyncio.to_thread(station.runner.shutdown)

    async def journal_error(request: Request, exc: Exception) -> Response:
        # one line naming the journal and what is wrong with it, as the command line says it
        return page(request, "error.html", message=f"{exc}", status=500)

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={JournalError: journal_error, sqlite3.DatabaseError: journal_error},
    )
    app.state.station = station
    return app


async def _stream(station: Station, request: Request) -> AsyncIterator[dict[str, str]]:
    """Every event of the current run from its first line, then new ones as they come.

    Each browser gets its own stream from the start of the file, so two browsers show
    the same run; a new run restarts the stream with a ``reset``. A ``state`` message
    follows every change of the run's process state (started, ended and with what code).
    """
    number, offset, last_state = None, 0, None
    while not await request.is_disconnected():
        run = station.runner.current
        state = run.describe() if run else None  # before reading: an ended run's lines are all in
        if run is not None and run.number != number:
            number, offset = run.number, 0
            yield {"data": json.dumps({"event": "reset", "run": run.describe()})}
        if run is not None:
            batch, offset = read_events(run.events, offset)
            for ev in batch:
                ev = _with_links(station, ev)
                yield {"data": json.dumps(ev)}
        if state != last_state:
            last_state = state
            tail = _tail(run.log) if run is not None and state and not state["running"] else ""
            yield {"data": json.dumps({"event": "state", "run": state, "log_tail": tail})}
        await asyncio.sleep(POLL_S)


def _with_links(station: Station, ev: dict[str, Any]) -> dict[str, Any]:
    if ev.get("event") == "run_finish":
        ev["report_link"] = station.file_link(ev.get("report", ""))
        ev["artifact_links"] = [[what, station.file_link(p)] for what, p in ev.get("artifacts", [])]
    return ev


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
