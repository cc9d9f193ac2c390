"""The model a fine-tuning run starts from: a training run, a release folder or Hub repo
(several models in it: chosen by name or by the documented default), or a trusted
mace-torch ``.model`` pickle such as the original MACE4IR files.

Every source ends as ``(model, spec)`` in this project's model format (pickles are rebuilt
from their spec, :mod:`mace4ir.training.models.mace_pickles`), so the rest of
fine-tuning never looks at where the weights came from.
"""

from __future__ import annotations

import json
from pathlib import Path

from mace4ir.errors import Mace4irError
from mace4ir.training.models.mace_pickles import rebuild
from mace4ir.training.models.release_files import resolve_release, select_models, verify_release
from mace4ir.training.models.release_layout import PICKLE_SUFFIX
from mace4ir.training.models.weights_io import (
    SPEC_SUFFIX,
    check_kind,
    load_mace_pickle,
    load_model,
    model_stem,
    require_kind,
)

KINDS = ("ef", "dipole")


def is_run_or_stem(source: str | Path) -> bool:
    """A training RUN dir or a model stem (as opposed to a release or a Hub id)."""
    return model_stem(source).with_suffix(SPEC_SUFFIX).is_file()


def load_foundation(
    source: str | Path,
    kind: str,
    trust_pickle: bool = False,
    names: dict[str, str | None] | None = None,
):
    """``(model, spec, path)`` of the ``kind`` model ("ef" or "dipole") of ``source``;
    ``names`` picks models by name from a release holding several (``{"ef": NAME}``)."""
    if kind not in KINDS:
        raise Mace4irError(f"unknown model kind {kind!r}; expected one of {KINDS}")
    if is_run_or_stem(source):
        check_kind(source, kind)
        model, spec = load_model(model_stem(source))
        return model, spec, model_stem(source)
    if Path(source).suffix == PICKLE_SUFFIX:
        return (*_from_pickle(Path(source), None, kind, trust_pickle), Path(source))
    folder = resolve_release(source)
    verify_release(folder, where=source)
    names = names or {}
    entries = dict(
        zip(
            KINDS, select_models(folder, trust_pickle, names.get("ef"), names.get("dipole"), source)
        )
    )
    entry = entries[kind]
    if entry.path.suffix == PICKLE_SUFFIX:
        return (*_from_pickle(entry.path, entry.loaded, kind, trust_pickle), entry.path)
    model, spec = load_model(entry.path)
    return model, spec, entry.path


def _from_pickle(path: Path, loaded, kind: str, trust_pickle: bool):
    model = loaded if loaded is not None else load_mace_pickle(path, trust_pickle=trust_pickle)
    model, spec = rebuild(model, path)
    require_kind(path, spec["kind"], kind)
    return model, spec


def source_kinds(source: str | Path) -> tuple[str, ...]:
    """The kinds a source holds: one for a training run or a pickle file, both for a release."""
    if is_run_or_stem(source):
        spec = json.loads(model_stem(source).with_suffix(SPEC_SUFFIX).read_text())
        return (spec["kind"],)
    if Path(source).suffix == PICKLE_SUFFIX:
        raise Mace4irError(f"{source}: a single pickle; say which kind it is with --kind ef|dipole")
    return KINDS
