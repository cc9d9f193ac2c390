"""The QCML-format GFN2-xTB sample: labels consistent with xtb itself, reproducible."""

import json

import numpy as np

from mace4ir.data_prep.qcml import layout as fmt
from mace4ir.data_prep.qcml.example_proto import decode_example
from mace4ir.data_prep.qcml.tfrecord import iter_tfrecord
from mace4ir.data_prep.sample import SAMPLE_MOLECULES, write_sample, xtb_singlepoint


def _first_records(sample, config, n):
    path = sorted((sample / "qcml" / config / "1.0.0").glob("*.tfrecord-*"))[0]
    return [decode_example(p) for _, p in zip(range(n), iter_tfrecord(path))]


def test_sample_layout_and_metadata(qcml_sample):
    for config, feats in fmt.BUNDLED_CONFIGS.items():
        folder = qcml_sample / "qcml" / config / "1.0.0"
        info = json.loads((folder / "dataset_info.json").read_text())
        assert sum(int(n) for n in info["splits"][0]["shardLengths"]) == 400
        assert set(
            json.loads((folder / "features.json").read_text())["featuresDict"]["features"]
        ) == set(feats)
        assert "GFN2-xTB" in info["description"]
    meta = json.loads((qcml_sample / "qcml/dft_force_field/1.0.0/metadata.json").read_text())
    assert meta["level_of_theory"].startswith("GFN2-xTB") and meta["units"]["positions"] == "bohr"
    assert len(SAMPLE_MOLECULES) >= 30
    zs = {
        int(z)
        for r in _first_records(qcml_sample, "dft_force_field", 400)
        for z in r["atomic_numbers"]
    }
    assert len(zs) >= 15


def test_forces_are_minus_the_energy_gradient_and_formation_energy_uses_atom_refs(qcml_sample):
    meta = json.loads((qcml_sample / "qcml/dft_force_field/1.0.0/metadata.json").read_text())
    refs = {int(z): e for z, e in meta["atom_reference_energies_hartree"].items()}
    recs = [
        r
        for r in _first_records(qcml_sample, "dft_force_field", 20)
        if r["charge"][0] == 0 and r["multiplicity"][0] == 1
    ][:2]
    h = 1e-3  # Bohr
    for rec in recs:
        z = rec["atomic_numbers"]
        pos = rec["positions"].reshape(-1, 3).astype(np.float64)
        forces = rec["pbe0_forces"].reshape(-1, 3)
        e0 = xtb_singlepoint(z, pos)["energy"]
        np.testing.assert_allclose(rec["pbe0_energy"][0], e0, rtol=1e-6)  # float32 storage
        np.testing.assert_allclose(
            rec["pbe0_formation_energy"][0], e0 - sum(refs[int(a)] for a in z), atol=2e-5
        )
        for atom, axis in ((0, 0), (len(z) - 1, 2)):
            plus, minus = pos.copy(), pos.copy()
            plus[atom, axis] += h
            minus[atom, axis] -= h
            fd = -(xtb_singlepoint(z, plus)["energy"] - xtb_singlepoint(z, minus)["energy"]) / (
                2 * h
            )
            assert abs(fd - forces[atom, axis]) < 2e-4, (fd, forces[atom, axis])


def test_sample_is_reproducible_for_any_worker_count(tmp_path):
    a = write_sample(tmp_path / "a", n_records=24, seed=3, records_per_shard=10)
    b = write_sample(tmp_path / "b", n_records=24, seed=3, records_per_shard=10, workers=2)
    files = sorted(p.relative_to(a) for p in a.rglob("*.tfrecord-*"))
    assert len(files) == 9
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
