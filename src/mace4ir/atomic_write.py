"""Files written whole or not at all: the text goes to a sibling ``NAME.tmp<pid>`` that is
then renamed over ``NAME``, so a process killed mid-write leaves the old file (or none),
never half of one. (``owned_folder`` knows these temporary names as a command's own.)"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_text_atomic(path: str | Path, text: str) -> Path:
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_json_atomic(path: str | Path, data, indent: int | None = 1) -> Path:
    """``data`` as JSON (numpy scalars and other numbers through ``float``)."""
    return write_text_atomic(path, json.dumps(data, indent=indent, default=float))
