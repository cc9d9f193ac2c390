"""Commands write only into output folders they own, and remove only files they wrote
(issue 15, items 1 and 2; export --overwrite and MD run folders use the same marker)."""

import shutil

import pytest

from mace4ir.cli import main
from mace4ir.errors import Mace4irError
from mace4ir.owned_folder import MARKER, claim

pytest_plugins = ("release_helpers",)

PREP = ["--val-size", "20", "--test-size", "20", "--train-size", "100", "--subsets", "100"]
PREP += ["--shard-size", "100", "--formats", "lmdb", "--no-progress"]


def _messages(caplog):
    return " | ".join(r.getMessage() for r in caplog.records)


def test_claim_refuses_foreign_folders_and_protects_their_files(tmp_path):
    (tmp_path / "out" / "docs").mkdir(parents=True)
    (tmp_path / "out" / "docs" / "report.tmp123").write_text("mine")
    with pytest.raises(Mace4irError, match="is not empty and was not made by 'mace4ir prep'"):
        claim(tmp_path / "out", "prep")
    owned = claim(tmp_path / "out", "prep", force=True)
    assert owned.remove_stale_tmp("docs") == 0  # looks like a temp file, but it is the user's
    killed = tmp_path / "out" / ".work" / "shards" / "train-00000.stats.npz.tmp4242.npz"
    killed.parent.mkdir(parents=True)
    killed.write_bytes(b"half written by a killed worker (numpy adds its own suffix)")
    assert owned.remove_stale_tmp(".work") == 1 and not killed.exists()
    with pytest.raises(Mace4irError, match="docs/report.tmp123: was in .* never removed"):
        owned.remove_tree("docs")
    with pytest.raises(Mace4irError, match="outside the output folder"):
        owned.remove("../elsewhere")
    assert (tmp_path / "out" / "docs" / "report.tmp123").read_text() == "mine"
    with pytest.raises(Mace4irError, match="was made by 'mace4ir prep'"):
        claim(tmp_path / "out", "sample")
    assert claim(tmp_path / "out", "prep").is_foreign("docs/report.tmp123")  # remembered


def test_prep_never_deletes_user_files_in_out(qcml_sample, tmp_path, caplog):
    """Item 1: `prep --out DIR` deleted every *.tmp* file under DIR before it started."""
    out = tmp_path / "out"
    (out / "docs").mkdir(parents=True)
    (out / "docs" / "report.tmp").write_text("user notes")
    argv = ["prep", "--source", str(qcml_sample), "--out", str(out), *PREP]
    assert main(argv) == 2
    assert f"{out}: is not empty and was not made by 'mace4ir prep'" in _messages(caplog)
    assert main([*argv, "--stage", "scan", "--force"]) == 0
    # a temp file of a killed prep (removed), and a user's file added later (kept)
    stale = out / ".work" / "scan" / "unit-00000.bin.tmp4242"
    stale.write_bytes(b"half written")
    (out / ".work" / "notes.tmp").write_text("also the user's")
    assert main(argv) == 0
    assert (out / "manifest.json").is_file() and not stale.exists()
    assert (out / "docs" / "report.tmp").read_text() == "user notes"
    assert not (out / ".work").exists() or (out / ".work" / "notes.tmp").exists()


def test_prep_refuses_to_overwrite_outputs_it_did_not_write(qcml_sample, tmp_path, caplog):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    argv = ["prep", "--source", str(qcml_sample), "--out", str(out), *PREP, "--force"]
    assert main(argv) == 2
    assert "manifest.json: was in" in _messages(caplog)
    assert (out / "manifest.json").read_text() == "{}"


def _real_qcml_copy(qcml_sample, dst):
    """A QCML-format folder nobody's marker claims (like a real download)."""
    shutil.copytree(qcml_sample, dst)
    (dst / MARKER).unlink(missing_ok=True)
    return sorted(dst.rglob("*.tfrecord-*"))


def test_sample_refuses_to_touch_a_qcml_folder_it_did_not_write(qcml_sample, tmp_path, caplog):
    """Item 2: `sample --out` on an existing QCML folder deleted shards it did not write."""
    shards = _real_qcml_copy(qcml_sample, tmp_path / "qcml_download")
    argv = ["sample", "--out", str(tmp_path / "qcml_download"), "--records", "3"]
    assert main(argv) == 2
    assert "is not empty and was not made by 'mace4ir sample'" in _messages(caplog)
    assert main([*argv, "--force"]) == 2
    assert "1.0.0/dataset_info.json: was in" in _messages(caplog)
    assert "never overwritten or removed" in _messages(caplog)
    assert sorted((tmp_path / "qcml_download").rglob("*.tfrecord-*")) == shards
    assert all(p.stat().st_size > 0 for p in shards)


def test_sample_replaces_its_own_earlier_shards(tmp_path):
    from mace4ir.data_prep.sample import write_sample

    write_sample(tmp_path / "s", n_records=4, seed=1, records_per_shard=2)
    assert len(list(tmp_path.glob("s/qcml/dft_metadata/1.0.0/*.tfrecord-*"))) == 2
    write_sample(tmp_path / "s", n_records=4, seed=1, records_per_shard=4)
    assert [p.name for p in tmp_path.glob("s/qcml/*/1.0.0/*.tfrecord-*")] == [
        "qcml-full.tfrecord-00000-of-00001"
    ] * 3


def test_export_overwrite_removes_only_what_an_earlier_export_wrote(release_runs, tmp_path):
    from mace4ir.release.export import ExportOptions, export_release

    def export(out, overwrite=True):
        return export_release(ExportOptions(*release_runs, out=out, overwrite=overwrite))

    user = tmp_path / "my_models"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(Mace4irError, match="not a release written by 'mace4ir release export'"):
        export(user)
    assert (user / "notes.txt").read_text() == "mine"
    release = export(tmp_path / "release", overwrite=False)
    (release / "extra.txt").write_text("added by hand")
    with pytest.raises(Mace4irError, match="holds extra.txt, which export did not write"):
        export(release)
    assert (release / "extra.txt").exists() and (release / "mace4ir_ef.safetensors").exists()
    (release / "extra.txt").unlink()
    before = (release / "mace4ir_release.json").stat().st_ino
    assert export(release) == release
    assert (release / "mace4ir_release.json").stat().st_ino != before  # replaced
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".release.tmp")]


def test_train_and_md_runs_refuse_folders_they_did_not_make(prepared_sample, tmp_path, caplog):
    from ase.build import molecule

    from mace4ir.evaluation import md_ir, xtb_calculator

    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "metrics.csv").write_text("my own table\n")
    argv = ["train", "--data", str(prepared_sample), "--out", str(folder), "--model", "ef_tiny"]
    assert main([*argv, "--max-steps", "1", "--no-progress"]) == 2
    assert "is not empty and was not made by 'mace4ir train'" in _messages(caplog)
    assert main([*argv, "--max-steps", "1", "--no-progress", "--force"]) == 2
    assert "metrics.csv: was in" in _messages(caplog)
    assert (folder / "metrics.csv").read_text() == "my own table\n"
    with pytest.raises(Mace4irError, match="was made by 'mace4ir train'"):
        md_ir(molecule("H2O"), xtb_calculator, production_ps=0.001, out=folder, progress=False)
    chunks = tmp_path / "md" / "chunks"
    chunks.mkdir(parents=True)
    (chunks / "chunk_000000000.npz").write_bytes(b"someone else's")
    with pytest.raises(Mace4irError, match="not made by 'mace4ir ir md'"):
        md_ir(molecule("H2O"), xtb_calculator, production_ps=0.001, out=tmp_path / "md")
    with pytest.raises(Mace4irError, match="chunk_000000000.npz: was in"):
        md_ir(molecule("H2O"), xtb_calculator, production_ps=0.001, out=tmp_path / "md", force=True)
    assert (chunks / "chunk_000000000.npz").read_bytes() == b"someone else's"
