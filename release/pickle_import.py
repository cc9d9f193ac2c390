"""``mace4ir release import``: trusted mace-torch pickles converted once into a safe release.

A folder or Hub repo of ``.model`` pickles (the MACE4IR paper's layout: several models next to
scripts and a tutorial) gives one EF + D pair, chosen as ``mace4ir.load`` chooses
(``--ef-file``/``--dipole-file``, else the default). Each model is rebuilt from the spec read
off its modules, checked to give the pickle's numbers (:mod:`.import_check`), and written
by :func:`~mace4ir.release.export.write_release` as safetensors + JSON spec with checksums
and a model card naming the source files: later loads unpickle nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from mace4ir.errors import Mace4irError
from mace4ir.hashing import sha256_file
from mace4ir.training.models.release_files import (
    REPO_ID,
    resolve_release,
    select_models,
    verify_release,
)
from mace4ir.training.models.release_layout import MODEL_CARD, RELEASE_CONFIG

log = logging.getLogger(__name__)

SOURCE_FORMAT = "mace-torch .model pickles"


@dataclass
class ImportOptions:
    source: str  # folder or Hub repo id ORG/NAME holding mace-torch .model pickles
    out: Path  # release folder to create
    trust_pickle: bool = False  # required: unpickling runs code from the files
    ef: str | None = None  # EF model file (as `mace4ir models` lists it); default as load()
    dipole: str | None = None
    revision: str | None = None  # Hub branch, tag or commit
    overwrite: bool = False
    license: str | None = None  # default: the source's model card license, else "other"
    model_name: str | None = None  # default: the source's name
    repo_id: str | None = None  # Hub id the converted release is meant for (card example)


def import_release(opts: ImportOptions) -> Path:
    """Write the safe release ``opts.out`` from the pickles of ``opts.source``."""
    from mace4ir.release.export import check_out, release_config, write_release

    if not opts.trust_pickle:
        raise Mace4irError(
            f"{opts.source}: importing unpickles its mace-torch models, which runs code from the "
            "files: pass --trust-pickle (trust_pickle=True) only for a source you trust"
        )
    check_out(opts.out, opts.overwrite)
    folder = resolve_release(opts.source, opts.revision)
    verify_release(folder, opts.source)
    if (folder / RELEASE_CONFIG).is_file():
        raise Mace4irError(f"{opts.source}: already a mace4ir release (no pickles); use it as is")
    entries = select_models(folder, True, opts.ef, opts.dipole, where=opts.source)
    models, check = convert(entries)
    config = {
        **release_config(opts.model_name or source_name(opts.source), _license(opts, folder)),
        "metrics": {"ef": None, "dipole": None},
        "benchmarks": None,
        "training_data": None,
        "source": {
            "repo": source_name(opts.source, full=True),
            "revision": opts.revision,
            "format": SOURCE_FORMAT,
            "check": check,
        },
    }
    return write_release(opts.out, config, models, overwrite=opts.overwrite, repo_id=opts.repo_id)


def convert(entries) -> tuple[dict, dict]:
    """({kind: ReleaseModel} rebuilt from the (EF, D) pickle entries, the numbers check)."""
    from mace4ir.evaluation.calculators.mace_ir import handle_from_entry, handle_from_spec
    from mace4ir.release.export import ReleaseModel
    from mace4ir.release.import_check import compare
    from mace4ir.training.models.build import fast_model_build
    from mace4ir.training.models.mace_pickles import rebuild

    with fast_model_build():
        rebuilt = [rebuild(e.loaded, e.name) for e in entries]
    originals = tuple(handle_from_entry(e) for e in entries)
    check = compare(
        originals, tuple(handle_from_spec(m, s, e.name) for (m, s), e in zip(rebuilt, entries))
    )
    log.info("rebuilt models give the pickles' numbers: %s", check)
    models = {
        spec["kind"]: ReleaseModel(model, spec, source_file(e))
        for (model, spec), e in zip(rebuilt, entries)
    }
    return models, check


def source_file(entry) -> dict:
    """What the release config says about the file a model came from."""
    return {
        "source_file": entry.name,
        "source_sha256": sha256_file(entry.path),
        "mace_torch": entry.mace_torch,
    }


def source_name(source: str, full: bool = False) -> str:
    """A Hub id (whole, or its NAME part), or a local folder's name (no local paths in a
    release)."""
    if REPO_ID.match(source) and not Path(source).exists():
        return source if full else source.split("/")[1]
    return Path(source).resolve().name


def _license(opts: ImportOptions, folder: Path) -> str:
    if opts.license:
        return opts.license
    card = folder / MODEL_CARD
    if card.is_file() and card.read_text(errors="replace").startswith("---"):  # front matter
        from huggingface_hub import ModelCard

        try:
            found = ModelCard.load(card).data.license
        except Exception:  # invalid front matter: as if none
            found = None
        if found:
            return found
    log.warning("%s: no license found in its model card; the release says 'other'", opts.source)
    return "other"
