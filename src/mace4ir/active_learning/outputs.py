"""What an active-learning run leaves for its user.

``DIR/data/labelled.extxyz`` (every training label, the oracle's units and convention),
``DIR/data/prepared/`` (the same as a prepared directory for ``mace4ir train``/``finetune``),
``DIR/committee/committee.json`` (the final members) and ``DIR/release/`` (the final
committee in the safe release format, which ``mace4ir.load`` opens).
"""

from __future__ import annotations

import filecmp
import logging
import shutil
from pathlib import Path

from mace4ir.data_prep.labelled_frames import read_labelled_frames
from mace4ir.data_prep.prepared.writer import split_records, write_prepared
from mace4ir.training.models.committee import read_committee, write_committee

log = logging.getLogger(__name__)


def write_outputs(run, committee_folder: Path, train: Path) -> None:
    """Labels (``train``: the last iteration's training frames) and the final committee.
    A run continued after it finished rewrites the data it wrote before."""
    out, data = run.out, run.out / "data"
    data.mkdir(exist_ok=True)
    labelled, prepared = data / "labelled.extxyz", data / "prepared"
    if not (labelled.is_file() and filecmp.cmp(labelled, train, shallow=False)):
        shutil.copyfile(train, labelled)
        if prepared.is_dir():  # made from the older labels, by this function
            shutil.rmtree(prepared)
    if not (prepared / "manifest.json").is_file():
        records = read_labelled_frames(labelled)
        source = {"active_learning": str(out), "oracle": run.opts.oracle.describe()}
        write_prepared(prepared, split_records(records, 0.1, run.opts.seed), source=source)
    write_committee(out / "committee", read_committee(committee_folder))
    _release(run, committee_folder)
    log.info("active learning finished: data in %s, committee in %s", data, out / "committee")


def _release(run, committee_folder: Path) -> None:
    """The final committee as a release folder (``mace4ir.load(DIR/release, committee=True)``)."""
    import json

    from mace4ir.release.export import export_committee

    rows = json.loads((Path(committee_folder).parent / "assessment.json").read_text())
    metrics = {"active_learning_holdout": rows}
    about = {"active_learning": {"molecules": run.names, "oracle": run.opts.oracle.describe()}}
    export_committee(
        committee_folder, run.out / "release", "mace4ir-active-learning", metrics, about
    )
