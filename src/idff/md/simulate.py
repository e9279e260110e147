"""Molecular dynamics of alanine dipeptide with OpenMM, cached with its settings.

The system: ACE-ALA-NME (22 atoms) in the AMBER ff99SB-ILDN force field with OBC
generalised-Born implicit solvent (``amber99sbildn.xml`` + ``amber99_obc.xml``), no
cutoff, bonds to hydrogen constrained, Langevin dynamics (``LangevinMiddleIntegrator``)
at 300 K on the ``Reference`` platform, which is the fastest for so few atoms.
Independent trajectories start from the same minimised structure with different
velocity and thermostat seeds. Each trajectory is written as a DCD file; φ/ψ are then
read back from the files with mdtraj (:mod:`idff.md.dihedrals`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from idff.errors import DataError
from idff.io import atomic_write

__all__ = ["SimulationSettings", "SimulationResult", "SYSTEMS", "default_pdb", "shipped_pdb",
           "make_system", "run_trajectory", "simulate"]

FORCEFIELD = ("amber99sbildn.xml", "amber99_obc.xml")


def default_pdb() -> Path:
    """The alanine-dipeptide PDB shipped with the package (see :mod:`idff.md.build`)."""
    return shipped_pdb("dipeptide")


#: structures shipped in ``idff/md/data`` (written by :mod:`idff.md.build`).
SYSTEMS = {"dipeptide": "alanine-dipeptide.pdb", "tetrapeptide": "alanine-tetrapeptide.pdb"}


def shipped_pdb(system: str) -> Path:
    """The shipped PDB of ``system``: ``"dipeptide"`` (ACE-ALA-NME) or ``"tetrapeptide"``
    (ACE-ALA-ALA-ALA-NME)."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown MD system {system!r}; choose one of {sorted(SYSTEMS)}.")
    return Path(str(resources.files("idff.md") / "data" / SYSTEMS[system]))


@dataclass
class SimulationSettings:
    """Everything that determines a set of simulated trajectories (the cache key).

    Attributes:
        n_traj: number of independent trajectories.
        length_ns: production length of each trajectory (ns).
        frame_ps: interval between saved frames (ps).
        timestep_fs: integration time step (fs).
        temperature_k: thermostat temperature (K).
        friction_per_ps: Langevin friction (1/ps).
        equilibration_ps: unsaved equilibration before the first frame (ps).
        seed: base random seed; trajectory ``i`` uses ``seed + i``.
        platform: OpenMM platform name.
        pdb: input structure; ``None`` means the shipped alanine dipeptide.
    """

    n_traj: int = 6
    length_ns: float = 2.0
    frame_ps: float = 1.0
    timestep_fs: float = 2.0
    temperature_k: float = 300.0
    friction_per_ps: float = 1.0
    equilibration_ps: float = 20.0
    seed: int = 0
    platform: str = "Reference"
    pdb: str | None = None
    forcefield: list[str] = field(default_factory=lambda: list(FORCEFIELD))

    def __post_init__(self):
        if self.n_traj < 1:
            raise ValueError(f"n_traj must be >= 1, got {self.n_traj}.")
        if self.length_ns <= 0 or self.frame_ps <= 0 or self.timestep_fs <= 0:
            raise ValueError("length_ns, frame_ps and timestep_fs must be > 0.")
        if self.equilibration_ps < 0:
            raise ValueError(f"equilibration_ps must be >= 0, got {self.equilibration_ps}.")
        ratio = self.frame_ps * 1000 / self.timestep_fs
        if abs(ratio - round(ratio)) > 1e-6:
            raise ValueError(
                f"frame_ps={self.frame_ps} is not a whole number of {self.timestep_fs} fs steps; "
                "choose a frame interval that the time step divides."
            )

    @property
    def steps_per_frame(self) -> int:
        return int(round(self.frame_ps * 1000 / self.timestep_fs))

    @property
    def n_frames(self) -> int:
        return int(round(self.length_ns * 1000 / self.frame_ps))

    def key(self) -> str:
        """A short hash of the settings and of the input structure's contents."""
        d = asdict(self)
        d["pdb_sha"] = hashlib.sha256(Path(self.pdb_path).read_bytes()).hexdigest()
        d.pop("pdb")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def pdb_path(self) -> Path:
        return Path(self.pdb) if self.pdb else default_pdb()


@dataclass
class SimulationResult:
    """Cached simulation output.

    Attributes:
        directory: cache folder (``settings.json``, ``traj_XX.dcd``, ``torsions.npz``).
        topology: the PDB used as topology.
        trajectories: DCD paths, one per trajectory.
        angles: torsions in degrees, shape ``(n_traj, n_frames, K)``.
        names: the ``K`` torsion names (``phi_1``, ``psi_1``, ...).
        energies: potential energies (kJ/mol) per frame, shape ``(n_traj, n_frames)``.
        frame_ps: time between frames (ps).
    """

    directory: Path
    topology: Path
    trajectories: list[Path]
    angles: np.ndarray
    names: list[str]
    energies: np.ndarray
    frame_ps: float


def make_system(topology, forcefield: tuple[str, ...] | list[str] = FORCEFIELD):
    """OpenMM ``System``: no cutoff, H-bond constraints, implicit solvent from the force field."""
    from openmm.app import ForceField, HBonds, NoCutoff

    try:
        ff = ForceField(*forcefield)
        return ff.createSystem(topology, nonbondedMethod=NoCutoff, constraints=HBonds)
    except ValueError as e:
        raise ValueError(
            f"the force field {list(forcefield)} cannot parametrise this topology ({e}); "
            "check residue names (ACE/ALA/NME caps) and that hydrogens are present."
        ) from e


def _platform(name: str):
    from openmm import Platform

    try:
        return Platform.getPlatformByName(name)
    except Exception as e:  # OpenMMException
        known = [Platform.getPlatform(i).getName() for i in range(Platform.getNumPlatforms())]
        raise ValueError(f"OpenMM platform {name!r} is not available; known: {known}.") from e


def run_trajectory(settings: SimulationSettings, index: int, out: str | Path,
                   progress: bool = True) -> np.ndarray:
    """Simulate trajectory ``index`` and write it to the DCD file ``out``.

    Returns:
        Potential energies (kJ/mol) of the saved frames, shape ``(n_frames,)``.
    """
    from openmm import LangevinMiddleIntegrator, unit
    from openmm.app import DCDFile, PDBFile, Simulation
    from tqdm.auto import tqdm

    pdb = PDBFile(str(settings.pdb_path))
    system = make_system(pdb.topology, settings.forcefield)
    integ = LangevinMiddleIntegrator(
        settings.temperature_k * unit.kelvin,
        settings.friction_per_ps / unit.picosecond,
        settings.timestep_fs * unit.femtoseconds,
    )
    seed = settings.seed + index
    integ.setRandomNumberSeed(seed + 1)  # 0 would mean "pick one at random"
    sim = Simulation(pdb.topology, system, integ, _platform(settings.platform))
    sim.context.setPositions(pdb.positions)
    sim.minimizeEnergy(maxIterations=200)
    sim.context.setVelocitiesToTemperature(settings.temperature_k * unit.kelvin, seed + 1)
    n_eq = int(round(settings.equilibration_ps * 1000 / settings.timestep_fs))
    if n_eq:
        sim.step(n_eq)
    energies = np.empty(settings.n_frames)
    dt_ps = settings.frame_ps

    def write_frames(f) -> None:
        dcd = DCDFile(f, pdb.topology, settings.timestep_fs * unit.femtoseconds,
                      interval=settings.steps_per_frame)
        for k in tqdm(range(settings.n_frames), desc=f"MD traj {index}", disable=not progress,
                      unit="frame", mininterval=2.0):
            sim.step(settings.steps_per_frame)
            state = sim.context.getState(getPositions=True, getEnergy=True)
            energies[k] = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
            if not np.isfinite(energies[k]):
                raise FloatingPointError(
                    f"trajectory {index} blew up at {(k + 1) * dt_ps} ps (energy {energies[k]}); "
                    "lower timestep_fs or check the structure."
                )
            dcd.writeModel(state.getPositions())

    atomic_write(out, write_frames)
    return energies


def simulate(settings: SimulationSettings, cache_dir: str | Path = "cache/md",
             progress: bool = True) -> SimulationResult:
    """Run (or load from cache) the trajectories ``settings`` describe.

    The cache folder is ``cache_dir/alanine-<hash of settings>``; finished trajectories
    are kept, so an interrupted run resumes where it stopped.
    """
    import zipfile

    from idff.md.dihedrals import load_torsions

    if not settings.pdb_path.is_file():
        raise FileNotFoundError(f"input structure {settings.pdb_path} does not exist.")
    d = Path(cache_dir) / f"alanine-{settings.key()}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "settings.json").write_text(json.dumps(asdict(settings), indent=2, sort_keys=True))
    top = d / "topology.pdb"
    if not top.is_file():
        top.write_bytes(settings.pdb_path.read_bytes())
    cached = d / "torsions.npz"
    paths = [d / f"traj_{i:02d}.dcd" for i in range(settings.n_traj)]
    if cached.is_file():
        try:
            with np.load(cached) as z:
                angles, names, energies = z["angles"], list(z["names"]), z["energies"]
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
            reason = ("it lacks 'angles', 'names' or 'energies'" if isinstance(e, KeyError)
                      else f"{type(e).__name__}: {str(e)[:120]}")
            raise DataError(f"the simulation cache {cached} is not readable ({reason}): delete "
                            "it to rebuild it from the trajectories, or choose another --cache."
                            ) from e
        return SimulationResult(d, top, paths, angles, names, energies, settings.frame_ps)
    angles, energies, names = [], [], []
    for i, p in enumerate(paths):
        e_file = p.with_suffix(".energy.npy")
        if not (p.is_file() and e_file.is_file()):
            energies_i = run_trajectory(settings, i, p, progress=progress)
            atomic_write(e_file, lambda f, e=energies_i: np.save(f, e))
        a, names = load_torsions(p, top)
        angles.append(a)
        energies.append(np.load(e_file))
    angles_arr, energies_arr = np.stack(angles), np.stack(energies)
    atomic_write(cached, lambda f: np.savez(f, angles=angles_arr, names=np.array(names),
                                            energies=energies_arr))
    return SimulationResult(d, top, paths, angles_arr, names, energies_arr, settings.frame_ps)
