"""Forked workers: every process draws its own ids, and a short-lived worker's spans arrive.

The children export to the test's collector over OTLP/HTTP; tracing is set up with a 60 s
schedule delay, so a child's spans arrive only if its exit flushes them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

import crosstrace
from conftest import Collector

SPANS = 1_000


def _config(endpoint: str) -> crosstrace.TracingConfig:
    return crosstrace.TracingConfig(
        service_name="py-fork",
        backend="otlp",
        endpoint=endpoint,
        otlp_protocol="http/protobuf",
        schedule_delay_millis=60_000,
    )


def _make_spans(args: tuple[str, str, int]) -> list[tuple[int, int]]:
    """A worker's task: `n` root spans named `name`; returns their (trace id, span id). Sets
    tracing up when the process has none (a forkserver child starts without it)."""
    endpoint, name, n = args
    if crosstrace.get_config() is None:
        crosstrace.setup_tracing(_config(endpoint))
    out = []
    tracer = crosstrace.get_tracer("fork-test")
    for _ in range(n):
        with tracer.start_as_current_span(name) as span:
            ctx = span.get_span_context()
            out.append((ctx.trace_id, ctx.span_id))
    return out


def _arrived(collector: Collector, name: str, want: int, within: float = 10.0) -> int:
    deadline = time.monotonic() + within
    while True:
        n = sum(1 for s, _ in collector.spans() if s.name == name)
        if n >= want or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def _assert_unique(ids: list[tuple[int, int]]) -> None:
    assert len({t for t, _ in ids}) == len(ids), "a trace id repeated across processes"
    assert len({s for _, s in ids}) == len(ids), "a span id repeated across processes"


def test_os_fork_children_draw_their_own_ids(collector: Collector) -> None:
    crosstrace.setup_tracing(_config(collector.url))
    ids = _make_spans((collector.url, "parent", SPANS))
    children = []
    for _ in range(8):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its ids to the pipe, its spans flushed, then gone
            code = 1
            try:
                os.close(r)
                mine = _make_spans((collector.url, "os-fork-child", SPANS))
                with os.fdopen(w, "w") as f:
                    f.write(repr(mine))
                crosstrace.force_flush(10.0)
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        with os.fdopen(r) as f:
            children.append((pid, f.read()))
    for pid, text in children:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        ids.extend(eval(text))  # noqa: S307 (our own child's repr of ints)
    ids.extend(_make_spans((collector.url, "parent", SPANS)))
    assert len(ids) == 10 * SPANS
    _assert_unique(ids)
    assert _arrived(collector, "os-fork-child", 8 * SPANS) == 8 * SPANS
    # A child's shutdown does not wait on (or join) the parent's export thread.
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            start = time.monotonic()
            unsent = crosstrace.shutdown_tracing(10.0)
            code = 0 if unsent == 0 and time.monotonic() - start < 2 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_multiprocessing_children_draw_their_own_ids(collector: Collector, method: str) -> None:
    crosstrace.setup_tracing(_config(collector.url))
    ids = _make_spans((collector.url, "parent", SPANS))
    ctx = multiprocessing.get_context(method)
    name = f"mp-{method}"
    with ctx.Pool(8) as pool:
        for chunk in pool.map(_make_spans, [(collector.url, name, SPANS)] * 8, chunksize=1):
            ids.extend(chunk)
    assert len(ids) == 9 * SPANS
    _assert_unique(ids)
    assert _arrived(collector, name, 8 * SPANS) == 8 * SPANS


def _blocked_worker(endpoint: str, ready: Any) -> None:
    """Spans, then the worker's main thread stops taking SIGTERM and blocks in a system call,
    while another thread (started before) still takes it."""
    _make_spans((endpoint, "blocked-worker", 100))
    helper = threading.Thread(target=time.sleep, args=(60,), daemon=True)
    helper.start()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    r, _w = os.pipe()
    ready.set()
    os.read(r, 1)  # never written


def test_a_blocked_worker_sent_sigterm_flushes_its_spans_and_ends(collector: Collector) -> None:
    # What a Pool worker waiting for its next task meets when terminate() comes just before it
    # blocks: a Python SIGTERM handler would wait for the main thread to run Python again, for
    # ever (and the pool's join with it). The native handler flushes and ends the worker.
    crosstrace.setup_tracing(_config(collector.url))
    ctx: Any = multiprocessing.get_context("fork")
    ready = ctx.Event()
    worker = ctx.Process(target=_blocked_worker, args=(collector.url, ready))
    worker.start()
    assert ready.wait(10)
    worker.terminate()
    worker.join(15)
    if worker.exitcode is None:
        worker.kill()
        worker.join()
    assert worker.exitcode == -signal.SIGTERM
    assert _arrived(collector, "blocked-worker", 100) == 100


@pytest.mark.parametrize("exit_by", ["with-block (terminate)", "close and join"])
def test_pool_workers_spans_all_arrive(collector: Collector, exit_by: str) -> None:
    crosstrace.setup_tracing(_config(collector.url))
    ctx: Any = multiprocessing.get_context("fork")
    name = f"pool-{exit_by}"
    tasks = [(collector.url, name, SPANS)] * 4
    if exit_by.startswith("with"):
        with ctx.Pool(4) as pool:
            pool.map(_make_spans, tasks, chunksize=1)
    else:
        pool = ctx.Pool(4)
        pool.map(_make_spans, tasks, chunksize=1)
        pool.close()
        pool.join()
    assert _arrived(collector, name, 4 * SPANS) == 4 * SPANS


def test_process_pool_executor_workers_spans_all_arrive(collector: Collector) -> None:
    from concurrent.futures import ProcessPoolExecutor

    crosstrace.setup_tracing(_config(collector.url))
    tasks = [(collector.url, "executor", SPANS)] * 4
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as ex:
        list(ex.map(_make_spans, tasks))
    assert _arrived(collector, "executor", 4 * SPANS) == 4 * SPANS


# A program that sets tracing up at module level, as scripts do: a spawned worker imports it
# again (as `__mp_main__`) and so sets tracing up before its first task.
SPAWN_MAIN = """
import multiprocessing, os, crosstrace

crosstrace.setup_tracing(crosstrace.TracingConfig(
    service_name="py-spawn", backend="otlp", endpoint=os.environ["CT_TEST_ENDPOINT"],
    otlp_protocol="http/protobuf", schedule_delay_millis=60_000))


def work(i):
    for _ in range(100):
        crosstrace.start_span("spawn-task").end()
    return i


if __name__ == "__main__":
    with multiprocessing.get_context("spawn").Pool(2) as pool:  # its exit: terminate()
        assert pool.map(work, range(4), chunksize=1) == list(range(4))
"""


def test_spawned_workers_set_up_at_module_level_flush_when_terminated(
    collector: Collector, tmp_path: Any
) -> None:
    # spawn (macOS's and Windows' default) runs no after-fork hooks: the worker's flush at
    # SIGTERM must start from the module-level setup itself.
    script = tmp_path / "spawn_main.py"
    script.write_text(SPAWN_MAIN)
    env = dict(os.environ, CT_TEST_ENDPOINT=collector.url)
    subprocess.run([sys.executable, str(script)], env=env, check=True, timeout=120)
    assert _arrived(collector, "spawn-task", 400) == 400
