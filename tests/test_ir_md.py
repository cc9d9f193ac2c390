"""MD-based IR: the spectrum of a harmonic system integrates to its harmonic intensities,
the atomic-polar-tensor route equals the finite-difference route, batched replicas of a
real mace-torch model, trajectories on disk, and resume after SIGKILL."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.io import read
from untrained_models import untrained_pair

from mace4ir.errors import Mace4irError
from mace4ir.evaluation import MaceIRCalculator, harmonic_ir, md_ir, xtb_calculator
from mace4ir.evaluation.md.providers import HarmonicProvider
from mace4ir.evaluation.md.simulation import MDOptions, load_md_config


@pytest.fixture(scope="module")
def water_harmonic():
    return harmonic_ir(molecule("H2O"), xtb_calculator(), fmax=1e-4)


@pytest.fixture(scope="module")
def tiny_calc():
    ef, ef_spec, d, d_spec = untrained_pair()
    return MaceIRCalculator(ef, ef_spec, d, d_spec)


def band(result, lo, hi):
    spec = result.spectra[0]
    wn = spec.wavenumbers_cm1
    keep = (wn > lo) & (wn < hi)
    return spec.intensity[keep].sum() * (wn[1] - wn[0])


@pytest.mark.parametrize("route", ["fd", "apt"])
def test_harmonic_system_md_spectrum_integrates_to_harmonic_intensities(water_harmonic, route):
    res = md_ir(
        water_harmonic.atoms,
        HarmonicProvider.from_result(water_harmonic),
        replicas=64,
        thermalization_ps=1.0,
        production_ps=5.0,
        friction_fs_inv=0.005,
        traj_every=0,
        dipole_route=route,
        progress=False,
        seed=3,
    )
    assert res.info["mean_temperature_K"] == pytest.approx(300.0, rel=0.03)
    f, i = water_harmonic.frequencies_cm1, water_harmonic.intensities_km_mol
    assert band(res, 0, 4500) == pytest.approx(i.sum(), rel=0.04)  # km/mol, all modes
    assert band(res, 1000, 2500) == pytest.approx(i[0], rel=0.05)  # the bend alone
    assert band(res, 3000, 4400) == pytest.approx(i[1] + i[2], rel=0.05)  # the two O-H stretches
    peak = res.spectra[0].wavenumbers_cm1[np.argmax(res.spectra[0].intensity)]
    assert peak == pytest.approx(f[0], abs=10.0)


def test_apt_route_equals_finite_difference_route_on_one_trajectory(tiny_calc):
    # friction 0: velocity Verlet, so positions are a smooth function of time
    res = md_ir(
        molecule("CH3CH2OH"),
        tiny_calc,
        thermalization_ps=0.0,
        production_ps=0.004,
        timestep_fs=0.1,
        friction_fs_inv=0.0,
        dipole_route="apt",
        traj_every=0,
        progress=False,
        seed=2,
    )
    mu, apt = res.dipoles[0, 0], res.dmu_dt[0, 0]
    fd = np.gradient(mu, 0.1, axis=0)
    inner = slice(2, -2)
    scale = np.abs(apt[inner]).max()
    assert scale > 1e-4
    assert np.abs(fd[inner] - apt[inner]).max() < 0.01 * scale


def test_batched_replicas_of_different_molecules_write_trajectories(tiny_calc, tmp_path):
    mols = [molecule("CH3CH2OH"), molecule("H2CO")]
    res = md_ir(
        mols,
        tiny_calc,
        replicas=2,
        thermalization_ps=0.005,
        production_ps=0.02,
        chunk_steps=16,
        traj_every=8,
        out=tmp_path / "run",
        progress=False,
    )
    assert res.dipoles.shape == (2, 2, 40, 3)
    assert len(res.spectra) == 2 and np.all(np.isfinite(res.spectra[1].intensity))
    frames = read(tmp_path / "run" / "traj" / "mol001_rep001.extxyz", index=":")
    assert len(frames) == 50 // 8 and frames[0].get_chemical_formula() == "CH2O"
    last = frames[-1]
    assert last.info["step"] == 48
    assert np.allclose(last.info["dipole_eA"], res.dipoles[1, 1, 48 - 10 - 1], atol=1e-12)
    assert (tmp_path / "run" / "spectrum_mol001.csv").is_file() and (
        tmp_path / "run" / "result.json"
    ).is_file()


def test_md_with_an_ase_calculator_factory_records_its_dipoles(tmp_path):
    from functools import partial

    res = md_ir(
        molecule("H2O"),
        partial(xtb_calculator, accuracy=1e-4),
        replicas=2,
        thermalization_ps=0.0,
        production_ps=0.01,
        traj_every=10,
        out=tmp_path,
        progress=False,
    )
    last = read(tmp_path / "traj" / "mol000_rep001.extxyz", index=-1)
    assert last.info["step"] == 20
    last.calc = xtb_calculator()
    assert np.allclose(
        last.get_dipole_moment(), res.dipoles[0, 1, -1], atol=1e-6
    )  # e·Å, at that geometry


def test_md_refuses_bad_molecules_and_changed_runs(tiny_calc, tmp_path):
    from ase import Atoms

    saddle = harmonic_ir(
        Atoms("OH2", positions=[(0, 0, 0), (0.96, 0, 0), (-0.96, 0, 0)]),
        xtb_calculator(),
        optimize=False,
    )
    with pytest.raises(Mace4irError, match="imaginary"):
        HarmonicProvider.from_result(saddle)  # its dynamics would run away
    with pytest.raises(Mace4irError, match="unknown MD options"):
        md_ir(molecule("CH4"), tiny_calc, production_fs=10)
    with pytest.raises(Mace4irError, match="Cl"):
        md_ir(molecule("CH3Cl"), tiny_calc, production_ps=0.01, progress=False)

    def short_run(calc, **changed):
        return md_ir(
            molecule("CH4"),
            calc,
            thermalization_ps=0.0,
            production_ps=0.005,
            out=tmp_path,
            progress=False,
            **changed,
        )

    first = short_run(tiny_calc)
    with pytest.raises(Mace4irError, match="different molecules or options"):
        short_run(tiny_calc, temperature_K=500.0)
    ef, ef_spec, d, d_spec = untrained_pair(seed=1)  # same architecture, other weights
    with pytest.raises(Mace4irError, match="MD run of another model"):
        short_run(MaceIRCalculator(ef, ef_spec, d, d_spec))
    again = short_run(tiny_calc)  # the same model: the finished run is read back
    np.testing.assert_array_equal(again.dipoles, first.dipoles)


def test_config_defaults_match_the_paper():
    opts = load_md_config("md")
    for key, value in vars(MDOptions()).items():
        expected = pytest.approx(value, rel=1e-8) if isinstance(value, float) else value
        assert getattr(opts, key) == expected, key
    assert (opts.temperature_K, opts.timestep_fs, opts.thermalization_ps, opts.production_ps) == (
        300.0,
        0.5,
        5.0,
        50.0,
    )
    from ase import units

    assert opts.friction_fs_inv == pytest.approx(
        0.01 * units.fs, rel=1e-8
    )  # ASE 3.22 friction=0.01


_KILLED_RUN = """
import sys, numpy as np
from ase import Atoms
from mace4ir.evaluation import md_ir
from mace4ir.evaluation.md.providers import HarmonicProvider
z = np.load(sys.argv[1])
atoms = Atoms(z["numbers"], z["positions"])
md_ir(atoms, HarmonicProvider(z["positions"], z["hessian"], z["dmu_dx"]), replicas=3, thermalization_ps=0.1,
      production_ps=2.0, chunk_steps=100, traj_every=50, out=sys.argv[2], progress=False, seed=7)
"""


def test_killed_run_resumes_identically(water_harmonic, tmp_path):
    prov = HarmonicProvider.from_result(water_harmonic)
    model = tmp_path / "harmonic.npz"
    np.savez(
        model,
        numbers=water_harmonic.atoms.numbers,
        positions=prov.x0,
        hessian=prov.hessian,
        dmu_dx=prov.dmu_dx,
    )
    killed = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(model), str(killed)], env=env)
    deadline = time.monotonic() + 120
    while (
        not (killed / "checkpoint.pt").exists()
        and proc.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "result.json").exists(), "the run finished before it could be killed"
    kwargs = dict(
        replicas=3,
        thermalization_ps=0.1,
        production_ps=2.0,
        chunk_steps=100,
        traj_every=50,
        progress=False,
        seed=7,
    )
    atoms = water_harmonic.atoms.copy()
    atoms.positions = prov.x0
    resumed = md_ir(
        atoms, HarmonicProvider(prov.x0, prov.hessian, prov.dmu_dx), out=killed, **kwargs
    )
    fresh = md_ir(
        atoms,
        HarmonicProvider(prov.x0, prov.hessian, prov.dmu_dx),
        out=tmp_path / "fresh",
        **kwargs,
    )
    assert resumed.dipoles.shape == (1, 3, 4000, 3)
    assert np.array_equal(resumed.dipoles, fresh.dipoles)
    for name in ("mol000_rep000.extxyz", "mol000_rep002.extxyz"):
        a = (killed / "traj" / name).read_text()
        b = (tmp_path / "fresh" / "traj" / name).read_text()
        assert a == b  # no lost or duplicated frames
    assert len(read(killed / "traj" / "mol000_rep002.extxyz", index=":")) == 4200 // 50


class _Repulsive:
    """A provider whose atoms push each other away: every molecule flies apart."""

    watch_intact = True

    def bind(self, replicas, device):
        self.n = sum(len(a) for a in replicas)
        self.n_mol = len(replicas)
        return self

    def forces(self, positions):
        centre = positions.mean(0, keepdim=True)
        return torch.zeros(self.n_mol, dtype=torch.float64), 5.0 * (positions - centre)

    def dipoles(self, positions, velocities=None):
        return torch.zeros((self.n_mol, 3), dtype=torch.float64), None


def test_md_stops_with_a_clear_error_when_a_molecule_flies_apart():
    from mace4ir.evaluation.md.simulation import MDUnstable

    with pytest.raises(
        MDUnstable, match=r"H2O \(replica 0\): an atom is .* from the molecule's centre"
    ):
        md_ir(
            molecule("H2O"),
            _Repulsive(),
            replicas=1,
            thermalization_ps=0.5,
            production_ps=0.5,
            progress=False,
        )
