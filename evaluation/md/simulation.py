"""MD-based IR: batched Langevin replicas, dipoles every step, spectra with spread.

``md_ir(molecules, calculator, ...)`` runs ``replicas`` independent BAOAB
trajectories of every molecule in one batch (one graph for a MaceIRCalculator),
thermalises, records μ(t) — and dμ/dt = Σ_i P_i·v_i with ``dipole_route="apt"`` —
at every production step, and returns per-molecule spectra (mean and spread over
replicas). With ``out`` set, the run is resumable: see :mod:`.md_store`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from ase import units

from mace4ir.errors import Mace4irError
from mace4ir.evaluation.md.autocorrelation import SpectrumResult, replica_spectra
from mace4ir.evaluation.md.langevin import BAOAB, LangevinState
from mace4ir.evaluation.md.store import SERIES, MDStore

log = logging.getLogger(__name__)

ASE_FRICTION_TO_FS_INV = units.fs  # γ in ASE internal units (1/(Å·sqrt(amu/eV))) -> fs^-1
ROUTES = ("fd", "apt")


INTACT_EVERY = 50  # steps between checks that every molecule holds together
INTACT_MARGIN_A = 20.0  # Å farther than at the start from the centre: no bond reaches that far


class MDUnstable(Mace4irError):
    """A molecule flew apart during MD."""


@dataclass
class MDOptions:
    """Paper defaults (MACE4IR Methods). friction 0.01 in ASE 3.22 units = 9.82e-4 fs^-1."""

    temperature_K: float = 300.0
    timestep_fs: float = 0.5
    thermalization_ps: float = 5.0
    production_ps: float = 50.0
    friction_fs_inv: float = 0.01 * ASE_FRICTION_TO_FS_INV
    thermalization_friction_fs_inv: float | None = (
        None  # stronger coupling while thermalising (None: same)
    )
    replicas: int = 1
    seed: int = 0
    dipole_route: str = "fd"  # "fd": dμ/dt from μ(t) by central differences; "apt": Σ P_i·v_i
    max_corr_fs: float = 1000.0
    chunk_steps: int = 1000  # steps between checkpoints (and dipole chunk files)
    traj_every: int = 20  # steps between frames written to the extxyz trajectories (0: none)
    quantum_correction: str | None = None
    skin: float = 1.0  # Å, neighbour-list skin

    def validate(self) -> None:
        if self.dipole_route not in ROUTES:
            raise Mace4irError(f"dipole_route must be one of {ROUTES}, got {self.dipole_route!r}")
        for name in ("temperature_K", "timestep_fs", "replicas", "chunk_steps"):
            if getattr(self, name) <= 0:
                raise Mace4irError(f"MD option {name} must be positive, got {getattr(self, name)}")
        if self.production_ps <= 0 or self.thermalization_ps < 0 or self.friction_fs_inv < 0:
            raise Mace4irError(
                "MD options: production_ps must be > 0, thermalization_ps and friction >= 0"
            )
        if (
            self.thermalization_friction_fs_inv is not None
            and self.thermalization_friction_fs_inv < 0
        ):
            raise Mace4irError("MD options: thermalization_friction_fs_inv must be >= 0 (fs^-1)")

    @property
    def n_therm(self) -> int:
        return int(round(self.thermalization_ps * 1000.0 / self.timestep_fs))

    @property
    def n_prod(self) -> int:
        return int(round(self.production_ps * 1000.0 / self.timestep_fs))


@dataclass
class MDResult:
    molecules: list  # the starting geometries
    spectra: list[SpectrumResult]  # one per molecule (mean/std over its replicas)
    dipoles: np.ndarray  # (n_mol, replicas, n_prod, 3) e·Å
    dmu_dt: np.ndarray | None  # (n_mol, replicas, n_prod, 3) e·Å/fs, APT route only
    options: MDOptions
    info: dict = field(default_factory=dict)
    # a committee's dipole members along the mean trajectory, (n_mol, members, replicas,
    # n_prod, 3): μ in e·Å, or dμ/dt in e·Å/fs on the APT route
    members: np.ndarray | None = None

    def to_dict(self) -> dict:
        return {
            "options": asdict(self.options),
            **self.info,
            "molecules": [a.get_chemical_formula() for a in self.molecules],
        }


def _provider(calculator, replicas_atoms, device):
    from mace4ir.evaluation.md.providers import ASEProvider, CommitteeProvider, MaceProvider

    if hasattr(calculator, "engines"):  # a CommitteeCalculator: its mean drives the replicas
        for i, a in enumerate(replicas_atoms):
            calculator.check(a, i)
        return CommitteeProvider(calculator, replicas_atoms)
    if hasattr(calculator, "engine"):
        for i, a in enumerate(replicas_atoms):
            calculator.check(a, i)
        return MaceProvider(calculator, replicas_atoms)
    if hasattr(calculator, "bind"):  # a provider factory such as HarmonicProvider
        return calculator.bind(replicas_atoms, device)
    factory = (
        calculator if callable(calculator) and not hasattr(calculator, "get_property") else None
    )
    if factory is None:
        raise Mace4irError(
            "md_ir needs a MaceIRCalculator or a zero-argument factory of ASE calculators "
            "(one calculator per replica), e.g. mace4ir.evaluation.xtb_calculator"
        )
    return ASEProvider(factory, replicas_atoms, device)


def _model_identity(calculator) -> str:
    """What drives the MD: the weights' digest of every model (a committee's too); for other
    sources (ASE calculator factories, harmonic providers), their kind."""
    engines = getattr(calculator, "engines", None) or (
        [calculator.engine] if hasattr(calculator, "engine") else []
    )
    if engines:
        return "mace:" + ",".join(e.weights_sha256 for e in engines)
    return getattr(calculator, "__qualname__", type(calculator).__qualname__)


def _device_of(calculator):
    if hasattr(calculator, "engines"):
        return calculator.engines[0].device
    return calculator.engine.device if hasattr(calculator, "engine") else "cpu"


def md_ir(
    molecules,
    calculator,
    options: MDOptions | None = None,
    out=None,
    device=None,
    progress: bool = True,
    force: bool = False,
    **overrides,
) -> MDResult:
    """Batched Langevin MD of ``replicas`` copies of each molecule and their IR spectra.

    ``calculator``: a MaceIRCalculator (all replicas in one graph), a zero-argument
    factory returning ASE calculators (e.g. ``xtb_calculator``), or a provider
    with ``bind(replicas, device)`` such as :class:`.providers.HarmonicProvider`. ``out``: a folder
    for
    trajectories, dipole chunks and checkpoints; a rerun with the same folder resumes. It must
    be new, empty or this kind of run (``force``: any folder; its files are kept).
    """
    unknown = sorted(set(overrides) - set(MDOptions.__dataclass_fields__))
    if unknown:
        raise Mace4irError(
            f"md_ir: unknown MD options {unknown}; known: {sorted(MDOptions.__dataclass_fields__)}"
        )
    opts = MDOptions(**{**asdict(options or MDOptions()), **overrides})
    opts.validate()
    mols = [molecules] if hasattr(molecules, "positions") else list(molecules)
    replicas = [m.copy() for m in mols for _ in range(opts.replicas)]
    device = torch.device(device or _device_of(calculator))
    provider = _provider(calculator, replicas, device)
    store = (
        MDStore(out, replicas, opts, force, _model_identity(calculator))
        if out is not None
        else None
    )
    sim = _Simulation(replicas, provider, opts, device, store)
    sim.run(progress)
    return _finish(mols, sim, opts, store)


def _finish(mols, sim, opts, store) -> MDResult:
    n_mol, R = len(mols), opts.replicas
    mu = sim.recorded("mu")  # (n_prod, n_rep, 3)
    mu = mu.transpose(1, 0, 2).reshape(n_mol, R, -1, 3)
    dmu = sim.recorded("dmu_dt")
    dmu = None if dmu is None else dmu.transpose(1, 0, 2).reshape(n_mol, R, -1, 3)
    members = _members(sim.recorded("members"), n_mol, R, mu.shape[2])

    def spectrum(series):
        return replica_spectra(
            series,
            opts.timestep_fs,
            opts.max_corr_fs,
            opts.temperature_K,
            is_derivative=dmu is not None,
            quantum_correction=opts.quantum_correction,
        )

    spectra = []
    for m in range(n_mol):
        spec = spectrum(dmu[m] if dmu is not None else mu[m])
        if members is not None:  # each member's replica-mean spectrum
            spec.per_member = np.array([spectrum(k).intensity for k in members[m]])
        spectra.append(spec)
    info = {
        "neighbour_list_rebuilds": sim.provider.rebuilds,
        "mean_temperature_K": sim.mean_temperature(),
    }
    result = MDResult(mols, spectra, mu, dmu, opts, info, members)
    if store is not None:
        store.write_results(result)
    return result


def _members(series, n_mol: int, R: int, n_prod: int):
    """(n_prod, K, n_mol·R, 3) → (n_mol, K, R, n_prod, 3); None when not recorded for every
    production step (a run resumed from chunks written before members were recorded)."""
    if series is None or len(series) != n_prod:
        return None
    K = series.shape[1]
    return series.transpose(1, 2, 0, 3).reshape(K, n_mol, R, n_prod, 3).transpose(1, 0, 2, 3, 4)


class _Simulation:
    """State, integrator and recording of one batched run (resumable through an MDStore)."""

    def __init__(self, replicas, provider, opts: MDOptions, device, store: MDStore | None):
        self.provider, self.opts, self.store = provider, opts, store
        self.replicas = replicas
        self.ptr = np.concatenate([[0], np.cumsum([len(a) for a in replicas])])
        masses = torch.as_tensor(
            np.concatenate([a.get_masses() for a in replicas]), dtype=torch.float64, device=device
        )
        self.batch = torch.as_tensor(
            np.repeat(np.arange(len(replicas)), np.diff(self.ptr)), device=device
        )
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(opts.seed))
        self.integrator = BAOAB(
            masses, opts.timestep_fs, opts.temperature_K, opts.friction_fs_inv, self.generator
        )
        self.masses = masses
        self.series = {name: [] for name in SERIES}  # chunk arrays (None: not recorded)
        # models on packed graphs: an atom far away makes the neighbour search grow without bound
        # (an exact harmonic model drifts apart along its linearised rotations, and may)
        self.watch_intact = getattr(provider, "watch_intact", False)
        reach = [np.linalg.norm(a.positions - a.positions.mean(0), axis=1).max() for a in replicas]
        self.reach_limit = (
            torch.as_tensor(reach, dtype=torch.float64, device=device) + INTACT_MARGIN_A
        )
        self.state = self._restore() if store is not None else None
        if self.state is None:
            self.state = self._initial_state(device)

    def _initial_state(self, device) -> LangevinState:
        pos = torch.as_tensor(
            np.concatenate([a.get_positions() for a in self.replicas]),
            dtype=torch.float64,
            device=device,
        )
        vel = self.integrator.maxwell_boltzmann(self.batch, len(self.replicas))
        energies, forces = self.provider.forces(pos)
        return LangevinState(pos, vel, forces, energies, 0)

    def _restore(self):
        saved = self.store.load_checkpoint(self.generator)
        if saved is None:
            return None
        state, self.series = saved
        log.info("resuming MD from step %d in %s", state.step, self.store.root)
        return state

    def run(self, progress: bool) -> None:
        from tqdm.auto import tqdm

        total = self.opts.n_therm + self.opts.n_prod
        bar = tqdm(
            total=total,
            initial=self.state.step,
            unit="step",
            disable=not progress,
            desc=f"MD x{len(self.replicas)} replicas",
        )
        while self.state.step < total:
            n = min(
                self.opts.chunk_steps - self.state.step % self.opts.chunk_steps,
                total - self.state.step,
            )
            self._run_chunk(n)
            bar.update(n)
        bar.close()

    def _run_chunk(self, n_steps: int) -> None:
        start = self.state.step
        mu, dmu, temps, members, frames = [], [], [], [], []
        apt = self.opts.dipole_route == "apt"
        for _ in range(n_steps):
            self._set_friction()
            self.state = self.integrator.step(self.state, self.provider.forces)
            if self.watch_intact and self.state.step % INTACT_EVERY == 0:
                self._check_intact()
            production = self.state.step > self.opts.n_therm
            if production:
                m, d = self.provider.dipoles(
                    self.state.positions, self.state.velocities if apt else None
                )
                mu.append(m.cpu().numpy())
                temps.append(self.temperature())
                if apt:
                    dmu.append(d.cpu().numpy())
                if getattr(self.provider, "member_series", None) is not None:
                    members.append(self.provider.member_series.cpu().numpy())
            if self.opts.traj_every and self.state.step % self.opts.traj_every == 0:
                frames.append(self._frame(mu[-1] if production else None))
        n_rep = len(self.replicas)
        chunk = {
            "mu": np.array(mu).reshape(-1, n_rep, 3),
            "dmu_dt": np.array(dmu).reshape(-1, n_rep, 3) if apt else None,
            "temperatures": np.array(temps, dtype=np.float64),
            "members": np.array(members) if members else None,
        }
        for name, arr in chunk.items():
            self.series[name].append(arr)
        if self.store is not None:
            self.store.save_chunk(start, self.state, self.generator, chunk, frames)

    def _check_intact(self) -> None:
        """Stop a run whose molecule flies apart or blows up (an unstable model far from its
        data): its spectrum would be meaningless, and the neighbour lists of atoms hundreds
        of Å apart grow without bound."""
        pos = self.state.positions
        centre = torch.zeros((len(self.replicas), 3), dtype=pos.dtype, device=pos.device)
        centre.index_add_(0, self.batch, pos)
        centre /= torch.as_tensor(np.diff(self.ptr), dtype=pos.dtype, device=pos.device)[:, None]
        reach = torch.zeros(len(self.replicas), dtype=pos.dtype, device=pos.device)
        dist = (pos - centre[self.batch]).norm(dim=1)
        reach.scatter_reduce_(0, self.batch, dist, "amax", include_self=False)
        bad = torch.nonzero(~(reach <= self.reach_limit)).flatten().tolist()  # NaN counts as bad
        if bad:
            r = bad[0]
            raise MDUnstable(
                f"{self.replicas[r].get_chemical_formula()} (replica {r}): an atom is "
                f"{float(reach[r]):.1f} Å from the molecule's centre at step {self.state.step} "
                f"(start: {float(self.reach_limit[r]) - INTACT_MARGIN_A:.1f} Å); the model lets it "
                "fly apart, so the MD stops (use a better-trained model, or a smaller time step)"
            )

    def _set_friction(self) -> None:
        therm = self.opts.thermalization_friction_fs_inv
        gamma = (
            therm
            if (therm is not None and self.state.step < self.opts.n_therm)
            else self.opts.friction_fs_inv
        )
        if gamma != self.integrator.friction:
            self.integrator.set_friction(gamma)

    def _frame(self, mu: np.ndarray) -> dict:
        return {
            "step": self.state.step,
            "positions": self.state.positions.cpu().numpy(),
            "velocities": self.state.velocities.cpu().numpy(),
            "energies": self.state.energies.cpu().numpy(),
            "dipoles": mu,
        }

    def temperature(self) -> float:
        ke = 0.5 * (self.masses[:, None] * self.state.velocities**2).sum() / units.fs**2  # eV
        dof = 3 * len(self.masses)  # Langevin thermalises every Cartesian degree of freedom
        return float(2.0 * ke / (dof * units.kB))

    def mean_temperature(self) -> float:
        temps = self.recorded("temperatures")
        return float(temps.mean()) if temps is not None else float("nan")

    def recorded(self, name: str):
        """The production series ``name`` over all chunks (steps first), or None if not
        recorded (dμ/dt on the finite-difference route, members without a committee)."""
        chunks = [c for c in self.series[name] if c is not None and len(c)]
        return np.concatenate(chunks, axis=0) if chunks else None


def load_md_config(name_or_path: str = "md") -> MDOptions:
    """MDOptions from a YAML config (built-in ``configs/ir/md.yaml`` or a path)."""
    from mace4ir.config import load_config

    cfg = dict(load_config(name_or_path, group="ir"))
    known = set(MDOptions.__dataclass_fields__)
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise Mace4irError(
            f"MD config {name_or_path}: unknown keys {unknown}; known: {sorted(known)}"
        )
    return MDOptions(**cfg)
