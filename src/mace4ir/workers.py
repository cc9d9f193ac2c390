"""Worker processes: pools that survive a dying worker, and workers that do not outlive
their parent.

:func:`run_resilient` runs independent tasks in spawned processes (safe with torch and CUDA).
Each task's function writes its own result (atomically) before it returns, so a killed run
keeps every finished task and a rerun only submits the rest. A worker that dies (segfault,
out of memory, a C library's abort) breaks the whole pool: the tasks it may have held are
retried one at a time, and one that kills its worker again is handed to ``on_crash`` to be
recorded as failed.

The workers of a process pool wait on a queue for the next task. When the parent is
SIGKILLed nothing tells them: they stay alive, blocked, holding memory and open files.
:func:`exit_with_parent` (a pool ``initializer``) starts a daemon thread in the worker that
ends it once its parent is gone (it was re-parented to init or a subreaper).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

log = logging.getLogger(__name__)

CHECK_EVERY_S = 0.5


def _watch(parent: int) -> None:
    while True:
        time.sleep(CHECK_EVERY_S)
        if os.getppid() != parent:
            os._exit(1)  # nobody is waiting for this worker's results any more


def exit_with_parent() -> None:
    """Call in a worker process: end it when the process that started it dies."""
    parent = os.getppid()
    threading.Thread(target=_watch, args=(parent,), name="exit-with-parent", daemon=True).start()


def worker_threads(workers: int) -> int:
    """Threads per worker so that the workers share the cores."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


def _worker_init(threads: int) -> None:
    exit_with_parent()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def run_resilient(
    tasks: Sequence,
    fn: Callable,
    workers: int,
    is_done: Callable[[object], bool],
    on_crash: Callable[[object], None],
    on_finished: Callable[[], None] = lambda: None,
) -> None:
    """Run ``fn(task)`` for every task in ``workers`` processes. ``is_done(task)`` tells whether
    a task's result was written; ``on_finished`` is called once per task that ends (progress)."""
    threads = worker_threads(workers)
    broken = _round(tasks, fn, workers, threads, on_finished)
    lost = [t for t in broken if not is_done(t)]
    for _ in range(len(broken) - len(lost)):
        on_finished()
    if lost:
        log.warning("a worker process died; retrying %d task(s) one at a time", len(lost))
    for task in lost:
        if _round([task], fn, 1, threads, on_finished):
            on_crash(task)
            on_finished()


def _round(tasks, fn, workers, threads, on_finished) -> list:
    """Run tasks in one pool; return those lost to a dead worker."""
    broken = []
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=_worker_init,
        initargs=(threads,),
    ) as pool:
        futures = {pool.submit(fn, t): t for t in tasks}
        for fut in as_completed(futures):
            try:
                fut.result()
                on_finished()
            except BrokenProcessPool:
                broken.append(futures[fut])
    return broken
