"""Independent tasks in spawned worker processes, surviving workers that die.

Each task's function writes its own result (atomically) before it returns, so a killed
run keeps every finished task and a rerun only submits the rest. A worker that dies
(segfault, out of memory, a C library's abort) breaks the whole pool: the tasks it may
have held are retried one at a time, and one that kills its worker again is handed to
``on_crash`` to be recorded as failed. Spawned processes are safe with torch and CUDA.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

log = logging.getLogger(__name__)


def worker_threads(workers: int) -> int:
    """Threads per worker so that the workers share the cores."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


def _worker_init(threads: int) -> None:
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
