"""Build the alanine-dipeptide structure shipped with the package (ACE-ALA-NME, 22 atoms).

The heavy atoms are placed from standard peptide internal coordinates (bond lengths,
angles and ω = 180°, φ = -80°, ψ = 150°), the Cβ with the usual ideal-geometry formula
for L-amino acids, hydrogens are added by OpenMM's ``Modeller`` from the force field's
templates, and the result is energy-minimised in the simulation force field. The file
``idff/md/data/alanine-dipeptide.pdb`` was written by :func:`write_alanine_dipeptide_pdb`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["place_atom", "dipeptide_heavy_atoms", "build_alanine_dipeptide",
           "write_alanine_dipeptide_pdb", "peptide_heavy_atoms", "build_alanine_peptide",
           "write_alanine_peptide_pdb"]


def place_atom(a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle: float,
               torsion: float) -> np.ndarray:
    """Place atom ``d`` from three atoms by internal coordinates (natural extension frame).

    ``|cd| = bond``, angle ``b-c-d = angle`` and dihedral ``a-b-c-d = torsion`` (degrees).

    Args:
        a, b, c: positions, shape ``(3,)``.

    Returns:
        The position of ``d``, shape ``(3,)``.
    """
    ang, tor = math.radians(angle), math.radians(torsion)
    bc = c - b
    bc /= np.linalg.norm(bc)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    d2 = np.array([-bond * math.cos(ang), bond * math.sin(ang) * math.cos(tor),
                   bond * math.sin(ang) * math.sin(tor)])
    return c + d2[0] * bc + d2[1] * m + d2[2] * n


def dipeptide_heavy_atoms(
    phi: float = -80.0, psi: float = 150.0
) -> list[tuple[str, str, np.ndarray]]:
    """Heavy atoms of ACE-ALA-NME as ``(residue, atom name, position in Å)``."""
    ch3 = np.array([0.0, 0.0, 0.0])
    c0 = np.array([1.52, 0.0, 0.0])
    n1 = place_atom(np.array([0.0, 1.0, 0.0]), ch3, c0, 1.33, 116.2, 180.0)
    ca = place_atom(ch3, c0, n1, 1.46, 121.7, 180.0)
    c1 = place_atom(c0, n1, ca, 1.52, 111.2, phi)
    n2 = place_atom(n1, ca, c1, 1.33, 116.2, psi)
    cm = place_atom(ca, c1, n2, 1.46, 121.7, 180.0)
    o0 = place_atom(ca, n1, c0, 1.23, 122.7, 0.0)
    o1 = place_atom(cm, n2, c1, 1.23, 122.7, 0.0)
    b, c = ca - n1, c1 - ca
    cb = -0.58273431 * np.cross(b, c) + 0.56802827 * b - 0.54067466 * c + ca
    return [("ACE", "CH3", ch3), ("ACE", "C", c0), ("ACE", "O", o0),
            ("ALA", "N", n1), ("ALA", "CA", ca), ("ALA", "CB", cb), ("ALA", "C", c1),
            ("ALA", "O", o1), ("NME", "N", n2), ("NME", "C", cm)]


def _hydrogens_and_minimum(top, positions, minimize: bool):
    """Bonds and hydrogens (OpenMM's ``Modeller``) for a heavy-atom topology with positions
    in nm, then (optionally) an energy minimisation in the simulation force field."""
    from openmm import LangevinMiddleIntegrator, Platform, unit
    from openmm.app import ForceField, Modeller, Simulation

    top.createStandardBonds()
    ff = ForceField("amber99sbildn.xml", "amber99_obc.xml")
    modeller = Modeller(top, unit.Quantity(positions, unit.nanometer))
    modeller.addHydrogens(ff)
    if not minimize:
        return modeller.topology, modeller.positions
    from idff.md.simulate import make_system

    system = make_system(modeller.topology)
    integ = LangevinMiddleIntegrator(300 * unit.kelvin, 1 / unit.picosecond,
                                     0.002 * unit.picoseconds)
    sim = Simulation(modeller.topology, system, integ, Platform.getPlatformByName("Reference"))
    sim.context.setPositions(modeller.positions)
    sim.minimizeEnergy(maxIterations=500)
    pos = sim.context.getState(getPositions=True).getPositions()
    return modeller.topology, pos


def build_alanine_dipeptide(minimize: bool = True):
    """Return ``(topology, positions)`` of alanine dipeptide with hydrogens (OpenMM objects)."""
    from openmm.app import Element, Topology

    top = Topology()
    chain = top.addChain()
    residues: dict[str, object] = {}
    positions = []
    for res, name, xyz in dipeptide_heavy_atoms():
        if res not in residues:
            residues[res] = top.addResidue(res, chain)
        top.addAtom(name, Element.getBySymbol(name[0]), residues[res])
        positions.append(xyz * 0.1)
    return _hydrogens_and_minimum(top, positions, minimize)


def write_alanine_dipeptide_pdb(path: str | Path) -> Path:
    """Build, minimise and write alanine dipeptide to ``path`` (PDB)."""
    from openmm.app import PDBFile

    top, pos = build_alanine_dipeptide()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        PDBFile.writeFile(top, pos, f)
    return path


def peptide_heavy_atoms(
    n_ala: int, phi: float = -80.0, psi: float = 150.0
) -> list[tuple[str, int, str, np.ndarray]]:
    """Heavy atoms of ACE-(ALA)n-NME as ``(residue, residue number, atom name, position in Å)``.

    The internal coordinates of :func:`dipeptide_heavy_atoms` repeated along the chain:
    every ALA gets the backbone torsions ``φ``/``ψ``, every peptide bond ω = 180°, every
    carbonyl O lies in its peptide plane (cis to the next Cα). ``n_ala = 1`` gives the
    dipeptide's coordinates.
    """
    if n_ala < 1:
        raise ValueError(f"n_ala must be >= 1, got {n_ala}.")
    prev3 = np.array([0.0, 1.0, 0.0])  # a dummy atom that fixes the first frame
    prev2 = np.array([0.0, 0.0, 0.0])  # ACE CH3, then each Cα
    prev1 = np.array([1.52, 0.0, 0.0])  # the carbonyl C before the next N
    atoms: list[tuple[str, int, str, np.ndarray]] = [("ACE", 1, "CH3", prev2),
                                                     ("ACE", 1, "C", prev1)]
    tors = 180.0  # torsion that places the next N (ψ of the residue before; 180° after ACE)
    for k in range(n_ala + 1):
        seq = k + 2
        n = place_atom(prev3, prev2, prev1, 1.33, 116.2, tors)
        ca = place_atom(prev2, prev1, n, 1.46, 121.7, 180.0)
        o = place_atom(ca, n, prev1, 1.23, 122.7, 0.0)
        atoms.append((atoms[-1][0], atoms[-1][1], "O", o))
        if k == n_ala:
            atoms += [("NME", seq, "N", n), ("NME", seq, "C", ca)]
            break
        c = place_atom(prev1, n, ca, 1.52, 111.2, phi)
        b, cc = ca - n, c - ca
        cb = -0.58273431 * np.cross(b, cc) + 0.56802827 * b - 0.54067466 * cc + ca
        atoms += [("ALA", seq, "N", n), ("ALA", seq, "CA", ca), ("ALA", seq, "CB", cb),
                  ("ALA", seq, "C", c)]
        prev3, prev2, prev1, tors = n, ca, c, psi
    return atoms


def build_alanine_peptide(n_ala: int, minimize: bool = True):
    """Return ``(topology, positions)`` of ACE-(ALA)n-NME with hydrogens (OpenMM objects).

    Heavy atoms from :func:`peptide_heavy_atoms`, hydrogens from OpenMM's ``Modeller``,
    then (optionally) an energy minimisation in the simulation force field.
    """
    from openmm.app import Element, Topology

    top = Topology()
    chain = top.addChain()
    residues: dict[int, object] = {}
    positions = []
    for res, seq, name, xyz in peptide_heavy_atoms(n_ala):
        if seq not in residues:
            residues[seq] = top.addResidue(res, chain, id=str(seq))
        top.addAtom(name, Element.getBySymbol(name[0]), residues[seq])
        positions.append(xyz * 0.1)
    return _hydrogens_and_minimum(top, positions, minimize)


def write_alanine_peptide_pdb(path: str | Path, n_ala: int = 3) -> Path:
    """Build, minimise and write ACE-(ALA)n-NME to ``path`` (PDB); ``n_ala = 3``: the
    alanine tetrapeptide shipped as ``idff/md/data/alanine-tetrapeptide.pdb``."""
    from openmm.app import PDBFile

    top, pos = build_alanine_peptide(n_ala)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        PDBFile.writeFile(top, pos, f)
    return path
