"""The alanine tetrapeptide (ACE-ALA-ALA-ALA-NME): structure, torsions, a short OpenMM run."""

import numpy as np
import pytest

pytest.importorskip("openmm")
md = pytest.importorskip("mdtraj")

from click.testing import CliRunner  # noqa: E402

from idff.md.build import (  # noqa: E402
    build_alanine_peptide,
    dipeptide_heavy_atoms,
    peptide_heavy_atoms,
)
from idff.md.dihedrals import phi_psi, wrap  # noqa: E402
from idff.md.simulate import SimulationSettings, shipped_pdb, simulate  # noqa: E402


def _dihedral(p0, p1, p2, p3):
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1 = b1 / np.linalg.norm(b1)
    v, w = b0 - (b0 @ b1) * b1, b2 - (b2 @ b1) * b1
    return np.degrees(np.arctan2(np.cross(b1, v) @ w, v @ w))


def test_shipped_structure():
    t = md.load(str(shipped_pdb("tetrapeptide")))
    assert t.n_atoms == 42
    assert [r.name for r in t.topology.residues] == ["ACE", "ALA", "ALA", "ALA", "NME"]
    assert sum(a.element.symbol == "H" for a in t.topology.atoms) == 22
    angles, names = phi_psi(t)
    assert names == ["phi_2", "psi_2", "phi_3", "psi_3", "phi_4", "psi_4"]
    assert (angles[0, ::2] < 0).all()  # L-alanines: φ < 0


def test_torsions_match_a_direct_computation():
    t = md.load(str(shipped_pdb("tetrapeptide")))
    rng = np.random.default_rng(0)
    t.xyz = t.xyz + rng.normal(0, 0.02, size=t.xyz.shape).astype(np.float32)  # off-ideal
    angles, _ = phi_psi(t)
    top = t.topology

    def pos(resi, name):
        return t.xyz[0, top.select(f"resid {resi} and name {name}")[0]].astype(float)

    direct = []
    for r in (1, 2, 3):
        direct += [_dihedral(pos(r - 1, "C"), pos(r, "N"), pos(r, "CA"), pos(r, "C")),
                   _dihedral(pos(r, "N"), pos(r, "CA"), pos(r, "C"), pos(r + 1, "N"))]
    np.testing.assert_allclose(wrap(angles[0] - np.array(direct)), 0.0, atol=1e-3)


def test_internal_coordinates():
    # one alanine: exactly the dipeptide's heavy atoms
    for (res, _, name, xyz), (res2, name2, xyz2) in zip(peptide_heavy_atoms(1),
                                                        dipeptide_heavy_atoms()):
        assert (res, name) == (res2, name2)
        np.testing.assert_allclose(xyz, xyz2, atol=1e-12)
    # before minimisation every residue has the requested φ/ψ (hydrogens do not move them)
    top, pos = build_alanine_peptide(3, minimize=False)
    t = md.Trajectory(np.array(pos.value_in_unit(pos.unit))[None] * (
        1.0 if str(pos.unit) == "nanometer" else 0.1), md.Topology.from_openmm(top))
    angles, _ = phi_psi(t)
    np.testing.assert_allclose(angles[0], [-80.0, 150.0] * 3, atol=1e-3)
    with pytest.raises(ValueError, match="n_ala"):
        peptide_heavy_atoms(0)


def test_a_few_md_steps_are_finite(tmp_path):
    s = SimulationSettings(n_traj=1, length_ns=0.002, frame_ps=0.5, equilibration_ps=0.0,
                           pdb=str(shipped_pdb("tetrapeptide")))
    res = simulate(s, tmp_path, progress=False)
    assert res.angles.shape == (1, 4, 6)
    assert np.isfinite(res.angles).all() and np.isfinite(res.energies).all()


def test_cli_system_option(tmp_path):
    from idff.cli.main import cli

    r = CliRunner().invoke(cli, ["md-simulate", "--system", "tetrapeptide", "--n-traj", "1",
                                 "--length-ns", "0.001", "--frame-ps", "0.5",
                                 "--cache", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "populations (residue 4)" in r.output
    (d,) = tmp_path.glob("alanine-*")
    with np.load(d / "torsions.npz") as z:
        assert z["angles"].shape == (1, 2, 6)
    with pytest.raises(ValueError, match="unknown MD system"):
        shipped_pdb("hexapeptide")


def test_benchmark_tables_add_the_kinetics_for_several_residues():
    from idff.md.report import benchmark_tables

    dipeptide = [{"label": "IDFF", "cc": 0.9, "pop_C7eq": 0.5}]
    tetra = [{"label": "IDFF", "cc": 0.9, "pop_C7eq": 0.5, "js_torsion": 0.0123,
              "mfpt_factor": 2.5}]
    assert len(benchmark_tables(dipeptide)) == 2
    tables = benchmark_tables(tetra, [{"label": "IDFF", "err_1lt": 0.1}])
    assert len(tables) == 4
    assert "JS torsion" in tables[2] and "0.012" in tables[2] and "2.50" in tables[2]
    assert "error @1 LT" in tables[3]
