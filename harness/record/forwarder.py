"""The forwarder: journal → InfluxDB, at least once, never in the way of a run.

* Reads pending rows (``id > sent_upto``) in batches of ``batch_size`` points,
  encodes them to line protocol and writes them; the next batch is read and
  encoded in a helper thread while the current one is on the wire.
* Marks a batch sent only after the server answered 2xx (one small UPDATE).
* 5xx / 429 / connection errors / timeouts: retry the same batch with
  exponential backoff and jitter, forever while running (bounded by the
  deadline in :meth:`Forwarder.stop` and :meth:`Forwarder.sync`).
* Other 4xx: bisect the batch; points refused on their own are quarantined in
  the journal with the server's message, the rest flows.
* 401/403/404 or a missing token: stop with a clear, redacted error.
* A re-sent batch (ack lost) overwrites the same points: every row has a
  timestamp unique in the journal (see :mod:`harness.record.journal`).

:meth:`Forwarder.start`/:meth:`Forwarder.stop` run it in a daemon thread during
a run; :meth:`Forwarder.sync` forwards everything pending in the caller's
thread (CLI). Neither raises for sink trouble.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.record.archive import connect_reader
from harness.record.credentials import CredentialError
from harness.record.encode import LineEncoder
from harness.record.outbox import Outbox, SinkStatus
from harness.record.rollup import Rollup
from harness.record.sinks import SinkConfigError, key_of, make_writer, pulse_sink, resolve_api
from harness.record.transport import Api, LineWriter, Outcome, WriteResult

#: Seconds between progress lines of :meth:`Forwarder.sync` while the sink refuses.
PROGRESS_S = 5.0

log = logging.getLogger("harness.record.forwarder")

WriterFactory = Callable[[Any, Api], LineWriter]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: attempt ``n`` waits between half and all of
    ``min(max_s, initial_s · factor**n)`` seconds."""

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        cap = min(self.max_s, self.initial_s * self.factor ** min(attempt, 60))
        return cap / 2 + rng.uniform(0, cap / 2)


@dataclass(frozen=True)
class SyncResult:
    """What one forwarding pass did."""

    sent: int  # points accepted by the sink in this pass
    quarantined: int  # points quarantined in this pass
    pending: int  # points still pending afterwards
    error: str | None = None  # last error (redacted), if the pass did not finish clean
    fatal: bool = False  # stopped on credentials/configuration

    @property
    def ok(self) -> bool:
        """Nothing pending and no fatal error."""
        return self.pending == 0 and not self.fatal


@dataclass
class _Batch:
    ids: list[int]
    lines: list[str]
    local_bad: list[tuple[int, str]]  # rows that could not even be encoded
    body: bytes = b""  # the lines joined, built on the reader thread
    #: raw pulse points bound for their own retention policy / bucket (empty: none)
    pulse_ids: list[int] = field(default_factory=list)
    pulse_lines: list[str] = field(default_factory=list)
    rollup: list[str] = field(default_factory=list)  # tms_pulse_1h cells of this batch

    @property
    def hi(self) -> int:
        top = max(self.ids[-1] if self.ids else 0, self.pulse_ids[-1] if self.pulse_ids else 0)
        return max(top, max((i for i, _ in self.local_bad), default=0))

    @property
    def empty(self) -> bool:
        return not (self.ids or self.pulse_ids or self.local_bad)


class _Reader:
    """Reads and encodes batches; lives on the helper thread (own connection).

    ``split_pulses``: raw pulse rows go to :attr:`_Batch.pulse_lines`; ``rollup``: the
    batch's hourly pulse cells are recomputed (:mod:`harness.record.rollup`).
    """

    def __init__(self, path: Path, key: str, *, split_pulses: bool = False,
                 rollup: bool = True) -> None:
        self.outbox = Outbox(path, key)
        self.encoder = LineEncoder(self.outbox.tagset_json)
        self.split_pulses = split_pulses
        self._path = path
        self._rollup: Rollup | None = None
        self._want_rollup = rollup

    def _rollup_lines(self, rows: list[tuple]) -> list[str]:
        if not self._want_rollup:
            return []
        if self._rollup is None:  # a reading connection: archived rows of the hour count
            self._rollup = Rollup(connect_reader(self._path), self.outbox.tagset_json)
        return self._rollup.lines((r[1], r[2], r[3]) for r in rows)

    def read(self, after_id: int, limit: int) -> _Batch:
        rows = self.outbox.read_after(after_id, limit)
        batch = _Batch([], [], [])
        bad = batch.local_bad
        enc = self.encoder.encode
        for row in rows:
            try:
                line = enc(row)
            except (TypeError, ValueError) as exc:
                bad.append((row[0], f"cannot encode: {exc}"))
                continue
            if self.split_pulses and row[1] == "pulse":
                batch.pulse_lines.append(line)
                batch.pulse_ids.append(row[0])
            else:
                batch.lines.append(line)
                batch.ids.append(row[0])
        batch.body = "\n".join(batch.lines).encode()
        batch.rollup = self._rollup_lines(rows)
        return batch

    def close(self) -> None:
        self.outbox.close()
        if self._rollup is not None:
            self._rollup.close()


class Forwarder:
    """Forwards the journal at ``journal_path`` to ``sink`` (an ``InfluxSink``).

    ``environ`` supplies ``sink.token_env`` (default ``os.environ``);
    ``writer_factory(sink, api)`` replaces the HTTP writers (tests).
    """

    def __init__(
        self,
        journal_path: str | Path,
        sink: Any,
        *,
        environ: Mapping[str, str] | None = None,
        writer_factory: WriterFactory | None = None,
        batch_size: int | None = None,
        poll_interval_s: float = 0.5,
        backoff: Backoff = Backoff(),
        seed: int | None = None,
    ) -> None:
        self.path = Path(journal_path)
        self.sink = sink
        self.key = key_of(sink)
        self.batch_size = int(batch_size or getattr(sink, "batch_size", 5000) or 5000)
        self.poll_interval_s = poll_interval_s
        self.backoff = backoff
        self._environ = environ
        self._factory: WriterFactory = writer_factory or (
            lambda s, api: make_writer(s, api, self._environ)
        )
        self._rng = random.Random(seed)
        self._writer: LineWriter | None = None
        self._pulse_writer: LineWriter | None = None
        self._api: Api | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._deadline: float | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.fatal_error: str | None = None
        self.last_result: SyncResult | None = None

    def __repr__(self) -> str:
        return f"Forwarder({str(self.path)!r} -> {self.key!r})"

    # ------------------------------------------------------------ public API
    def start(self) -> None:
        """Forward in a background daemon thread until :meth:`stop`. Never raises
        for sink trouble."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._deadline = None
        self._thread = threading.Thread(target=self._background, name="tms-forwarder", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Wake the background thread now (e.g. right after an append)."""
        self._wake.set()

    def stop(self, flush_timeout: float = 5.0) -> bool:
        """Try for up to ``flush_timeout`` s to forward what is pending, then stop.

        Returns True if nothing was left pending. Pending points stay in the
        journal for the next run or ``tmsbench sync``.
        """
        thread = self._thread
        if thread is None:
            return True
        self._deadline = time.monotonic() + max(0.0, flush_timeout)
        self._stop.set()
        self._wake.set()
        thread.join(max(0.0, flush_timeout) + 5.0)
        self._thread = None
        res = self.last_result
        return bool(res and res.ok)

    def sync(
        self, timeout_s: float | None = None, progress: Callable[[str], None] | None = None
    ) -> SyncResult:
        """Forward everything pending now, in this thread; give up after
        ``timeout_s`` seconds (None: retry until done or a fatal error).

        ``progress`` gets one line at most every :data:`PROGRESS_S` seconds while the
        sink keeps refusing: what is being waited for, the last error and the time left.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        return self._pump(drain=True, deadline=deadline, progress=progress)

    def status(self) -> SinkStatus:
        """Pending/sent/quarantined counts and the last error for this sink."""
        with Outbox(self.path, self.key) as ob:
            return ob.status()

    # ------------------------------------------------------------ internals
    def _background(self) -> None:
        try:
            self._pump(drain=False, deadline=None)
        except Exception as exc:  # never let the thread die silently
            log.exception("forwarder stopped on an unexpected error")
            self.last_error = f"unexpected: {type(exc).__name__}"

    def _ensure_writer(self) -> WriteResult | None:
        if self._writer is not None:
            return None
        try:
            api = resolve_api(self.sink)
        except (ConnectionError, OSError) as exc:
            return WriteResult(Outcome.RETRY, None, f"cannot detect API: {exc}")
        try:
            self._writer = self._factory(self.sink, api)
            self._api = api
        except (CredentialError, SinkConfigError) as exc:
            return WriteResult(Outcome.FATAL, None, str(exc))
        log.info("forwarding %s via %s API", self.key, api)
        return None

    def _deliver_batch(self, batch: _Batch, bad: list[tuple[int, str]]) -> WriteResult:
        """The batch's points, then its raw pulses (their own retention policy), then its
        rollup cells; the batch counts as sent only when all three were taken."""
        assert self._writer is not None
        res = WriteResult(Outcome.OK)
        if batch.lines:
            res = self._deliver(self._writer, batch.ids, batch.lines, bad, batch.body)
        if res.outcome is Outcome.OK and batch.pulse_lines:
            if self._pulse_writer is None:
                self._pulse_writer = self._factory(pulse_sink(self.sink), self._api or "v1")
            res = self._deliver(self._pulse_writer, batch.pulse_ids, batch.pulse_lines, bad)
        if res.outcome is Outcome.OK and batch.rollup:
            roll = self._writer.write("\n".join(batch.rollup).encode())
            if roll.outcome in (Outcome.RETRY, Outcome.FATAL):
                return roll
            if roll.outcome is not Outcome.OK:  # derived data: said, never in the way
                log.warning("%s refused the pulse rollup of a batch: %s", self.key,
                            roll.message)
        return res

    def _deliver(
        self,
        writer: LineWriter,
        ids: list[int],
        lines: list[str],
        bad: list[tuple[int, str]],
        body: bytes | None = None,
    ) -> WriteResult:
        """Write ``lines`` (or the ready ``body``) with ``writer``; on 4xx bisect and
        append refused points to ``bad``."""
        res = writer.write(body if body is not None else "\n".join(lines).encode())
        if res.outcome in (Outcome.OK, Outcome.RETRY, Outcome.FATAL):
            return res
        if len(lines) == 1:  # BAD_POINTS or TOO_LARGE for a single point
            bad.append((ids[0], res.message))
            log.warning("quarantined point %d: %s", ids[0], res.message)
            return WriteResult(Outcome.OK, res.status)
        mid = len(lines) // 2
        left = self._deliver(writer, ids[:mid], lines[:mid], bad)
        if left.outcome is not Outcome.OK:
            return left
        return self._deliver(writer, ids[mid:], lines[mid:], bad)

    def _set_error(self, outbox: Outbox, res: WriteResult) -> None:
        if res.message != self.last_error:
            log.warning("forwarding to %s: %s", self.key, res.message)
            try:
                outbox.record_error(res.message)
            except Exception:  # the journal is busy/locked: the error is only informative
                log.debug("could not record the forwarding error", exc_info=True)
        self.last_error = res.message

    def _wait(self, seconds: float, drain: bool, deadline: float | None) -> None:
        if deadline is not None:
            seconds = min(seconds, max(0.0, deadline - time.monotonic()))
        if drain:
            time.sleep(seconds)
        else:
            self._stop.wait(seconds)

    def _pump(
        self,
        *,
        drain: bool,
        deadline: float | None,
        progress: Callable[[str], None] | None = None,
    ) -> SyncResult:
        outbox = Outbox(self.path, self.key)
        pool = ThreadPoolExecutor(1, thread_name_prefix="tms-journal-read")
        reader_box: list[_Reader] = []

        def read(after: int) -> _Batch:
            if not reader_box:
                reader_box.append(_Reader(
                    self.path, self.key, split_pulses=pulse_sink(self.sink) is not None,
                    rollup=bool(getattr(self.sink, "rollup", True))))
            return reader_box[0].read(after, self.batch_size)

        sent = quarantined = 0
        attempt = 0
        said_at = time.monotonic()
        result_error: str | None = None
        fatal = False
        try:
            cursor = outbox.sent_upto()
            batch: _Batch = pool.submit(read, cursor).result()
            while True:
                if not drain and self._stop.is_set():
                    drain, deadline = True, self._deadline
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if batch.empty:
                    if drain:
                        # the prefetched batch may predate the last append: look once more
                        batch = pool.submit(read, cursor).result()
                        if batch.empty:
                            break
                        continue
                    self._wake.wait(self.poll_interval_s)
                    self._wake.clear()
                    batch = pool.submit(read, cursor).result()
                    continue
                setup = self._ensure_writer()
                bad: list[tuple[int, str]] = []
                if setup is not None:
                    res = setup
                    nxt: Future[_Batch] | None = None
                else:
                    nxt = pool.submit(read, batch.hi)
                    bad.extend(batch.local_bad)
                    res = self._deliver_batch(batch, bad)
                if res.outcome is Outcome.OK:
                    outbox.advance(batch.hi, bad)
                    sent += len(batch.ids) + len(batch.pulse_ids) - (
                        len(bad) - len(batch.local_bad))
                    quarantined += len(bad)
                    cursor = batch.hi
                    if self.last_error is not None:
                        log.info("forwarding to %s recovered", self.key)
                    self.last_error = None
                    result_error = None
                    attempt = 0
                    assert nxt is not None
                    batch = nxt.result()
                    continue
                if nxt is not None:
                    nxt.result()  # discard; the same batch is sent again
                self._set_error(outbox, res)
                result_error = res.message
                if res.outcome is Outcome.FATAL:
                    fatal = True
                    self.fatal_error = res.message
                    break
                now = time.monotonic()
                if progress is not None and now - said_at >= PROGRESS_S:
                    said_at = now
                    left = "" if deadline is None else f", giving up in {deadline - now:.0f} s"
                    progress(
                        f"waiting for {self.key}: {res.message}; "
                        f"{outbox.last_id() - cursor} points pending{left}"
                    )
                self._wait(self.backoff.delay(attempt, self._rng), drain, deadline)
                attempt += 1
            pending = outbox.last_id() - cursor
        finally:
            pool.shutdown(wait=True)
            for r in reader_box:
                r.close()
            outbox.close()
        result = SyncResult(sent, quarantined, pending, result_error, fatal)
        self.last_result = result
        return result

    def close(self) -> None:
        """Stop (without flushing) and release the HTTP connections."""
        self.stop(0.0)
        for w in (self._writer, self._pulse_writer):
            if w is not None:
                w.close()
        self._writer = self._pulse_writer = None
