"""Fault-injection points for the kill-and-resume tests.

With ``<ENV>=<point>:<n>`` in the environment, the process that reaches ``point`` when at
least ``n`` tasks of that kind are done writes ``<work>/PAUSED`` and sleeps, so that a
test can SIGKILL the whole run at a known, interesting moment (not after a guessed
delay). Unset in normal use: no effect.

* ``MACE4IR_PREP_PAUSE_AT`` (``mace4ir prep``): ``scan`` (a unit is staged), ``plan`` (the
  split plan is saved), ``shard`` (an output shard is half written: first format on disk,
  marker not yet).
* ``MACE4IR_AL_PAUSE_AT`` (``mace4ir active-learn``): ``label`` (an oracle label was written).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

PREP = "MACE4IR_PREP_PAUSE_AT"
ACTIVE_LEARNING = "MACE4IR_AL_PAUSE_AT"


def pause_point(name: str, work: Path, count_done: Callable[[], int], env: str = PREP) -> None:
    """Pause here if the environment asks for it (``count_done`` is only called then)."""
    spec = os.environ.get(env)
    if not spec:
        return
    point, _, n = spec.partition(":")
    if point != name:
        return
    done = count_done()
    if done < int(n or 1):
        return
    (Path(work) / "PAUSED").write_text(f"{name}:{done} pid {os.getpid()}\n")
    while True:  # wait to be killed
        time.sleep(60)
