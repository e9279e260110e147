"""Backbone torsions and periodic angle arithmetic.

Angles are in degrees on the circle ``[-180, 180)``. A state of ``K`` torsions is
represented for learning by ``2K`` features ``(sin θ_1, cos θ_1, ..., sin θ_K, cos θ_K)``,
so that -179° and 181° are the same point, and errors are measured with wrapped
differences ``wrap(a - b)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["wrap", "wrapped_diff", "to_features", "from_features", "phi_psi",
           "load_torsions", "count_atoms"]


def wrap(angle: np.ndarray | float) -> np.ndarray:
    """Map angles (degrees) to ``[-180, 180)``."""
    return (np.asarray(angle, dtype=float) + 180.0) % 360.0 - 180.0


def wrapped_diff(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Signed shortest difference ``wrap(a - b)`` in degrees (179° vs -179° gives -2°)."""
    return wrap(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))


def to_features(angles: np.ndarray) -> np.ndarray:
    """Angles ``(..., K)`` in degrees to features ``(..., 2K)``: interleaved ``sin, cos``."""
    r = np.deg2rad(np.asarray(angles, dtype=float))
    return np.stack([np.sin(r), np.cos(r)], axis=-1).reshape(*r.shape[:-1], 2 * r.shape[-1])


def from_features(features: np.ndarray) -> np.ndarray:
    """Features ``(..., 2K)`` back to angles ``(..., K)`` in degrees, ``atan2(sin, cos)``.

    Off-circle points (as a generator produces) are projected radially onto the circle.
    """
    f = np.asarray(features, dtype=float)
    if f.shape[-1] % 2:
        raise ValueError(f"features need an even last dimension (sin, cos pairs), got {f.shape}.")
    f = f.reshape(*f.shape[:-1], -1, 2)
    return wrap(np.rad2deg(np.arctan2(f[..., 0], f[..., 1])))


def phi_psi(traj) -> tuple[np.ndarray, list[str]]:
    """Backbone φ/ψ of every residue that has both, from an mdtraj ``Trajectory``.

    Returns:
        ``(angles, names)``: angles in degrees of shape ``(T, 2R)`` ordered
        ``φ_1, ψ_1, ..., φ_R, ψ_R`` and their names (``phi_<resSeq>``, ``psi_<resSeq>``).
    """
    import mdtraj as md

    phi_idx, phi = md.compute_phi(traj)
    psi_idx, psi = md.compute_psi(traj)
    top = traj.topology
    phi_res = {top.atom(int(q[2])).residue.index: k for k, q in enumerate(phi_idx)}
    psi_res = {top.atom(int(q[1])).residue.index: k for k, q in enumerate(psi_idx)}
    both = sorted(set(phi_res) & set(psi_res))
    if not both:
        raise ValueError(
            f"no residue of this topology ({top.n_residues} residues: "
            f"{', '.join(str(r) for r in top.residues)}) has both φ and ψ: each needs the "
            "atoms C of the previous residue, N, CA, C, and N of the next residue. Cap the "
            "peptide (e.g. ACE-ALA-NME) or check the atom names."
        )
    cols, names = [], []
    for r in both:
        seq = top.residue(r).resSeq
        cols += [phi[:, phi_res[r]], psi[:, psi_res[r]]]
        names += [f"phi_{seq}", f"psi_{seq}"]
    return wrap(np.rad2deg(np.stack(cols, axis=1))), names


def count_atoms(path: str | Path) -> int:
    """Number of atoms per frame of a trajectory file (DCD, XTC, ...), read from frame 1."""
    import mdtraj as md

    with md.open(str(path)) as f:
        first = f.read(n_frames=1)
    xyz = first[0] if isinstance(first, tuple) else first
    return int(np.asarray(xyz).shape[1])


def load_torsions(trajectory: str | Path, topology: str | Path,
                  stride: int = 1) -> tuple[np.ndarray, list[str]]:
    """φ/ψ (degrees, ``(T, 2R)``) and names from a trajectory file and its topology.

    Args:
        trajectory: DCD, XTC or any format mdtraj reads.
        topology: a PDB (or other topology file) with the same atoms in the same order.
        stride: keep every ``stride``-th frame.
    """
    import mdtraj as md

    trajectory, topology = Path(trajectory), Path(topology)
    for p, what in ((trajectory, "trajectory"), (topology, "topology")):
        if not p.is_file():
            raise FileNotFoundError(f"{what} file {p} does not exist.")
    top = md.load_topology(str(topology))
    if trajectory.suffix.lower() in (".dcd", ".xtc", ".trr", ".nc", ".h5"):
        n = count_atoms(trajectory)
        if n != top.n_atoms:
            raise ValueError(
                f"the trajectory {trajectory.name} has {n} atoms per frame but the topology "
                f"{topology.name} has {top.n_atoms}; pass the topology the trajectory was "
                "written with (same atoms, same order, solvent included or stripped in both)."
            )
    traj = md.load(str(trajectory), top=top, stride=stride)
    return phi_psi(traj)
