"""LMDB and WebDataset readers, ase.Atoms view, and the training-pool statistics."""

import numpy as np
from ase.neighborlist import neighbor_list

from mace4ir.data_prep import open_split
from mace4ir.data_prep.prepared.reader import load_manifest, open_records
from mace4ir.data_prep.prepared.records import records_equal
from mace4ir.data_prep.prepared.verify import verify


def test_lmdb_and_webdataset_hold_identical_records(prepared_sample):
    for split in ("train", "val", "test"):
        a = open_records(prepared_sample, split, fmt="lmdb")
        b = open_records(prepared_sample, split, fmt="webdataset")
        assert len(a) == len(b) > 0
        streamed = list(b)  # sequential tar streaming
        for i in range(len(a)):
            assert records_equal(a[i], streamed[i]) and records_equal(a[i], b[i])


def test_open_split_gives_atoms_in_internal_units(prepared_sample):
    atoms = open_split(prepared_sample, "val", fmt="webdataset")[3]
    assert isinstance(atoms.info["energy"], float) and atoms.arrays["forces"].shape == (
        len(atoms),
        3,
    )
    assert atoms.info["dipole"].shape == (3,) and atoms.info["key_hash"]
    d = atoms.get_all_distances() + np.eye(len(atoms)) * 99
    assert 0.7 < d.min() < 2.6  # bond lengths in Å, not Bohr


def test_verify_detects_a_modified_shard(prepared_sample, tmp_path):
    import shutil

    verify(prepared_sample, deep=True)
    copy = tmp_path / "copy"
    shutil.copytree(prepared_sample, copy)
    shard = copy / load_manifest(copy)["splits"]["val"]["shards"]["webdataset"][0]["path"]
    raw = bytearray(shard.read_bytes())
    raw[600] ^= 0xFF
    shard.write_bytes(bytes(raw))
    try:
        verify(copy)
    except Exception as exc:
        assert "sha256" in str(exc) and str(shard) in str(exc)
    else:
        raise AssertionError("verify missed a modified shard")


def test_e0s_equal_dense_least_squares(prepared_sample):
    m = load_manifest(prepared_sample)
    train = list(open_records(prepared_sample, "train"))
    zs = sorted(int(z) for z in m["e0s"])
    x = np.array([[np.sum(r["atomic_numbers"] == z) for z in zs] for r in train], float)
    y = np.array([r["energy"] for r in train])
    dense = np.linalg.lstsq(x, y, rcond=None)[0]
    np.testing.assert_allclose([m["e0s"][str(z)] for z in zs], dense, rtol=1e-7, atol=1e-6)
    interaction = np.mean((y - x @ dense) / x.sum(1))
    np.testing.assert_allclose(
        m["statistics"]["interaction_energy_per_atom_mean"], interaction, atol=1e-7
    )
    assert m["elements"] == {str(z): int(np.sum(x[:, k] > 0)) for k, z in enumerate(zs)}


def test_neighbours_and_force_rms_match_independent_references(prepared_sample):
    m = load_manifest(prepared_sample)
    atoms = list(open_split(prepared_sample, "train"))
    edges = sum(len(neighbor_list("i", a, m["r_max"])) for a in atoms)
    assert abs(m["avg_num_neighbors"] - edges / sum(len(a) for a in atoms)) < 1e-9
    forces = np.concatenate([a.arrays["forces"] for a in atoms])
    np.testing.assert_allclose(m["statistics"]["force_rms"], np.sqrt(np.mean(forces**2)), rtol=1e-6)
    e = np.array([a.info["energy"] / len(a) for a in atoms])
    np.testing.assert_allclose(m["statistics"]["energy_per_atom_mean"], e.mean(), rtol=1e-9)
    np.testing.assert_allclose(m["statistics"]["energy_per_atom_std"], e.std(), rtol=1e-6)
    assert (prepared_sample / "elements.png").stat().st_size > 10_000
