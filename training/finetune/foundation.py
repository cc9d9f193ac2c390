"""The model a fine-tuning run starts from: a training run, a release folder or Hub repo.

Every source ends as ``(model, spec)`` in this project's model format, so the rest of
fine-tuning never looks at where the weights came from.
"""

from __future__ import annotations

from pathlib import Path

from mace4ir.errors import Mace4irError
from mace4ir.training.models.release_files import model_paths, resolve_release, verify_release
from mace4ir.training.models.weights_io import SPEC_SUFFIX, check_kind, load_model, model_stem

KINDS = ("ef", "dipole")


def is_run_or_stem(source: str | Path) -> bool:
    """A training RUN dir or a model stem (as opposed to a release or a Hub id)."""
    return model_stem(source).with_suffix(SPEC_SUFFIX).is_file()


def load_foundation(source: str | Path, kind: str, trust_pickle: bool = False):
    """``(model, spec, path)`` of the ``kind`` model ("ef" or "dipole") of ``source``."""
    if kind not in KINDS:
        raise Mace4irError(f"unknown model kind {kind!r}; expected one of {KINDS}")
    if is_run_or_stem(source):
        check_kind(source, kind)
        model, spec = load_model(model_stem(source))
        return model, spec, model_stem(source)
    folder = resolve_release(source)
    verify_release(folder)
    path = dict(zip(KINDS, model_paths(folder, trust_pickle)))[kind]
    if path.suffix == ".model":
        raise Mace4irError(
            f"{path}: a mace-torch pickle; convert the release first with "
            f"'mace4ir release import {source} --out DIR --trust-pickle', then fine-tune from DIR"
        )
    model, spec = load_model(path)
    return model, spec, path


def source_kinds(source: str | Path) -> tuple[str, ...]:
    """The kinds a source holds: one for a training run, both for a release."""
    if is_run_or_stem(source):
        import json

        spec = json.loads(model_stem(source).with_suffix(SPEC_SUFFIX).read_text())
        return (spec["kind"],)
    return KINDS
