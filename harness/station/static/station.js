// The run page: Start/Stop through the station's API, live state from its event stream
// (server-sent events, one JSON object per message; see harness/station/events.py).
"use strict";

const $ = (id) => document.getElementById(id);
let run = null;          // the run's description from the station
let tests = [];          // node ids of the collected tests
let done = 0;            // tests finished
let finished = null;     // the run_finish event
let elapsedTimer = null;

function fmt(v) {
  if (v === null || v === undefined) return "—";
  return String(parseFloat(Number(v).toPrecision(5)));
}

function short(nodeid) { return nodeid.split("::").slice(1).join("::") || nodeid; }

function message(text) { $("message").textContent = text || ""; }

function reset(r) {
  run = r; tests = []; done = 0; finished = null;
  $("tests").innerHTML = "";
  document.querySelector("#measurements tbody").innerHTML = "";
  $("verdict").className = "verdict hidden";
  $("verdict").innerHTML = "";
  $("live").classList.remove("hidden");
  $("coil-temp").textContent = "–";
  $("pulse-caption").textContent = "no pulse captured yet";
  $("run-id").textContent = "";
  clearPulse();
  $("run-title").textContent = `${r.plan_title} · ${r.serial} · operator ${r.operator}`;
  updateProgress();
}

function testRow(nodeid) {
  let li = document.querySelector(`#tests li[data-test="${CSS.escape(nodeid)}"]`);
  if (!li) {
    li = document.createElement("li");
    li.dataset.test = nodeid;
    li.innerHTML = `<span class="state">queued</span> <span class="name"></span>`;
    li.querySelector(".name").textContent = short(nodeid);
    $("tests").appendChild(li);
  }
  return li;
}

function setTest(nodeid, state) {
  const li = testRow(nodeid);
  li.className = state;
  li.querySelector(".state").textContent = state;
}

function updateProgress() {
  $("progress").max = Math.max(tests.length, 1);
  $("progress").value = done;
}

function addMeasurement(ev) {
  const tr = document.createElement("tr");
  tr.className = "measurement";
  const u = ev.U !== undefined ? fmt(ev.U) : (ev.uncertainty !== undefined ? fmt(ev.uncertainty) : "");
  const value = ev.text !== undefined ? ev.text : fmt(ev.value);
  const cells = [short(ev.test), ev.name, `${value} ${ev.unit}`.trim(), ev.limits, u,
                 (ev.decision ? `${ev.verdict} (${ev.decision})` : ev.verdict).toUpperCase()];
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c;
    tr.appendChild(td);
  }
  tr.lastChild.className = `v-${ev.verdict}`;
  document.querySelector("#measurements tbody").appendChild(tr);
}

function clearPulse() {
  const c = $("pulse"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
}

function drawPulse(ev) {
  const c = $("pulse"), g = c.getContext("2d");
  const W = c.width, H = c.height, L = 56, R = 10, T = 10, B = 28;
  g.clearRect(0, 0, W, H);
  const ys = ev.y.filter((v) => v !== null).concat((ev.template || []).filter((v) => v !== null));
  if (!ys.length) return;
  const x0 = ev.t_us[0], x1 = ev.t_us[ev.t_us.length - 1];
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const px = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const py = (y) => T + (y1 - y) / (y1 - y0) * (H - T - B);
  g.strokeStyle = "#ccc"; g.lineWidth = 1;
  g.beginPath(); g.moveTo(L, py(0)); g.lineTo(W - R, py(0)); g.stroke();
  g.fillStyle = "#555"; g.font = "11px sans-serif";
  g.fillText(`${fmt(y1)} ${ev.unit}`, 2, T + 8); g.fillText(`${fmt(y0)}`, 2, H - B);
  g.fillText(`${fmt(x0)} µs`, L, H - 8); g.fillText(`${fmt(x1)} µs`, W - R - 60, H - 8);
  const line = (vals, color, width, dash) => {
    g.strokeStyle = color; g.lineWidth = width; g.setLineDash(dash); g.beginPath();
    let pen = false;
    vals.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      const X = px(ev.t_us[i]), Y = py(v);
      if (pen) g.lineTo(X, Y); else g.moveTo(X, Y);
      pen = true;
    });
    g.stroke(); g.setLineDash([]);
  };
  line(ev.y, "#1f5fbf", 2, []);
  if (ev.template) line(ev.template, "#e07b00", 1.5, [6, 4]);
  const what = {"V/m": "E-field", "A": "coil current", "A/µs": "dI/dt"}[ev.unit] || "record";
  $("pulse-caption").textContent = `${ev.waveform} ${what} at ${fmt(ev.percent)} %MSO, ` +
    short(ev.test) + (ev.template ? " (dashed: the spec's expected pulse)" : "");
}

function showVerdict(ev) {
  const v = $("verdict");
  const verdict = (ev.verdict || "error").toLowerCase();
  v.className = `verdict ${verdict}`;
  let html = `<div id="verdict-word">${verdict.toUpperCase()}</div>`;
  if (run && run.stopped && verdict === "aborted") html += `<div>stopped by the operator; the stimulator was disarmed</div>`;
  if (ev.failures && ev.failures.length) {
    html += "<ul id='failures'>" + ev.failures.map((f) =>
      `<li>${escapeHtml(f.name)}: ${escapeHtml(f.text)} ${escapeHtml(f.unit)} (limits ${escapeHtml(f.limits)})</li>`).join("") + "</ul>";
  }
  if (ev.report_link) html += `<a id="report-link" href="${ev.report_link}" target="_blank">HTML report</a>`;
  for (const [what, link] of ev.artifact_links || []) {
    if (link) html += `<a class="certificate-link" href="${link}" target="_blank">${escapeHtml(what)}</a>`;
  }
  if (ev.failed_tests && ev.failed_tests.length && verdict !== "aborted") {
    // enabled once the run's process has ended (its verdict line comes a moment before)
    const busy = run && run.running ? " disabled" : "";
    html += `<button id="retest" type="button"${busy}>Retest failed tests</button>`;
  }
  v.innerHTML = html;
  const rt = $("retest");
  if (rt) rt.onclick = () => start(ev.failed_tests);
}

function escapeHtml(s) {
  return String(s ?? "").replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
}

function setRunning(state) {
  run = state;
  const running = !!(state && state.running);
  $("start").disabled = running;
  $("stop").disabled = !running;
  const rt = $("retest");
  if (rt) rt.disabled = running;
  if (!state) return;
  if (!running) {  // a test that never reported its end (the run was stopped or crashed)
    document.querySelectorAll("#tests li.running").forEach((li) => {
      li.className = "aborted";
      li.querySelector(".state").textContent = "not ended";
    });
  }
  $("run-state").textContent = running
    ? (state.stopped ? "stopping: disarming…" : "running")
    : `ended (exit ${state.returncode})`;
  clearInterval(elapsedTimer);
  const tick = () => {
    const end = state.finished || Date.now() / 1000;
    const s = Math.max(0, Math.round(end - state.started));
    $("elapsed").textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };
  tick();
  if (running) elapsedTimer = setInterval(tick, 500);
}

function onEvent(ev, logTail) {
  switch (ev.event) {
    case "reset": reset(ev.run); setRunning(ev.run); break;
    case "state":
      setRunning(ev.run);
      if (ev.run && !ev.run.running && !finished) {
        // ended without a verdict line: bad input or a crash; show what the run printed
        finished = {verdict: "error"};
        showVerdict(finished);
        $("verdict").insertAdjacentHTML("beforeend", `<pre class="log">${escapeHtml(logTail)}</pre>`);
      }
      break;
    case "collected":
      tests = ev.tests; tests.forEach((t) => setTest(t, "queued")); updateProgress(); break;
    case "test_start": setTest(ev.test, "running"); break;
    case "test_finish": setTest(ev.test, ev.outcome); done += 1; updateProgress(); break;
    case "measurement": addMeasurement(ev); break;
    case "pulse": drawPulse(ev); break;
    case "temperature":
      $("coil-temp").textContent = ev.celsius === null ? "n/a" : `${ev.celsius.toFixed(1)} °C (${ev.phase})`;
      break;
    case "run_start":
      $("run-id").innerHTML = ` · run <a href="/results/run/${encodeURIComponent(ev.run_id)}">${escapeHtml(ev.run_id)}</a>`;
      break;
    case "run_finish": finished = ev; showVerdict(ev); break;
  }
}

async function start(retestTests) {
  message("");
  const body = {operator: $("operator").value, serial: $("serial").value, plan: $("plan").value,
                tests: retestTests || []};
  const r = await fetch("/api/start", {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify(body)});
  const answer = await r.json();
  if (!r.ok) message(`Start refused: ${answer.error}`);
}

async function stop() {
  const r = await fetch("/api/stop", {method: "POST"});
  const answer = await r.json();
  if (!r.ok) message(`Stop: ${answer.error}`);
  else $("run-state").textContent = "stopping: disarming…";
}

// A barcode scanner is a keyboard that types the code and presses Enter: Enter in the
// operator field moves on to the serial; Enter in the serial field moves to Start.
$("operator").addEventListener("keydown", (e) => {
  if (e.key === "Enter") { e.preventDefault(); $("serial").focus(); $("serial").select(); }
});
$("serial").addEventListener("keydown", (e) => {
  if (e.key !== "Enter") return;
  e.preventDefault();
  if ($("start").disabled) message("A run is going on: Start is refused until it has ended");
  else $("start").focus();
});
$("start-form").addEventListener("submit", (e) => { e.preventDefault(); start(null); });
$("stop").addEventListener("click", stop);
$("operator").focus();

const source = new EventSource("/events");
source.onmessage = (m) => { const ev = JSON.parse(m.data); onEvent(ev, ev.log_tail); };
