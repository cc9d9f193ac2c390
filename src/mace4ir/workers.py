"""Worker processes that do not outlive their parent.

The workers of a process pool wait on a queue for the next task. When the parent is
SIGKILLed nothing tells them: they stay alive, blocked, holding memory and open files.
:func:`exit_with_parent` (a pool ``initializer``) starts a daemon thread in the worker that
ends it once its parent is gone (it was re-parented to init or a subreaper).
"""

from __future__ import annotations

import os
import threading
import time

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
