"""Torsion extraction and periodic arithmetic (idff.md.dihedrals)."""

import numpy as np
import pytest

md = pytest.importorskip("mdtraj")

from idff.md.build import dipeptide_heavy_atoms, place_atom  # noqa: E402
from idff.md.dihedrals import (  # noqa: E402
    from_features,
    load_torsions,
    to_features,
    wrap,
    wrapped_diff,
)
from idff.md.metrics import pointwise_errors  # noqa: E402


def _topology(residues=("ACE", "ALA", "NME")):
    top = md.Topology()
    chain = top.add_chain()
    res = {}
    atoms = []
    for r, name, _ in dipeptide_heavy_atoms():
        if r not in residues:
            continue
        if r not in res:
            res[r] = top.add_residue(r, chain, resSeq=len(res) + 1)
        atoms.append(top.add_atom(name, md.element.get_by_symbol(name[0]), res[r]))
    return top


def _frames(angles, residues=("ACE", "ALA", "NME")):
    xyz = []
    for phi, psi in angles:
        xyz.append([p for r, _, p in dipeptide_heavy_atoms(phi, psi) if r in residues])
    return np.asarray(xyz) * 0.1  # nm


KNOWN = [(-80.0, 150.0), (-65.0, -40.0), (60.0, 45.0), (75.0, -65.0), (-179.0, 179.0)]


def _mdtraj_dihedral(*points: np.ndarray) -> float:
    """The dihedral of four points (degrees) as mdtraj measures it."""
    top = md.Topology()
    res = top.add_residue("X", top.add_chain())
    for i in range(4):
        top.add_atom(f"C{i}", md.element.carbon, res)
    traj = md.Trajectory(np.stack(points)[None], top)
    return float(np.rad2deg(md.compute_dihedrals(traj, [[0, 1, 2, 3]])[0, 0]))


@pytest.mark.parametrize("torsion", [-179.0, -120.0, -60.0, 0.0, 35.0, 90.0, 150.0, 180.0])
def test_dihedral_of_placed_atom(torsion):
    a, b, c = np.array([0.0, 1.0, 0.2]), np.zeros(3), np.array([1.5, 0.0, 0.0])
    d = place_atom(a, b, c, 1.4, 110.0, torsion)
    assert np.linalg.norm(d - c) == pytest.approx(1.4)
    b_c = np.linalg.norm(c - b)
    angle = np.degrees(np.arccos(np.dot(b - c, d - c) / (b_c * 1.4)))
    assert angle == pytest.approx(110.0)
    assert wrapped_diff(_mdtraj_dihedral(a, b, c, d), torsion) == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("fmt, tol", [("dcd", 0.05), ("xtc", 1.0)])  # xtc stores 1e-3 nm
def test_phi_psi_from_hand_built_trajectory(tmp_path, fmt, tol):
    top = _topology()
    traj = md.Trajectory(_frames(KNOWN), top)
    traj[0].save_pdb(str(tmp_path / "top.pdb"))
    getattr(traj, f"save_{fmt}")(str(tmp_path / f"traj.{fmt}"))
    angles, names = load_torsions(tmp_path / f"traj.{fmt}", tmp_path / "top.pdb")
    assert names == ["phi_2", "psi_2"]
    assert angles.shape == (len(KNOWN), 2)
    np.testing.assert_allclose(wrapped_diff(angles, np.array(KNOWN)), 0.0, atol=tol)


def test_atom_mismatch_is_a_clear_error(tmp_path):
    top = _topology()
    md.Trajectory(_frames(KNOWN[:1]), top).save_pdb(str(tmp_path / "top.pdb"))
    short = _topology(("ACE", "ALA"))
    md.Trajectory(_frames(KNOWN, ("ACE", "ALA")), short).save_dcd(str(tmp_path / "t.dcd"))
    with pytest.raises(ValueError, match="8 atoms per frame but the topology top.pdb has 10"):
        load_torsions(tmp_path / "t.dcd", tmp_path / "top.pdb")


def test_missing_residue_for_phi_psi(tmp_path):
    top = _topology(("ACE", "ALA"))
    md.Trajectory(_frames(KNOWN, ("ACE", "ALA")), top).save_pdb(str(tmp_path / "no_cap.pdb"))
    with pytest.raises(ValueError, match="has both φ and ψ"):
        load_torsions(tmp_path / "no_cap.pdb", tmp_path / "no_cap.pdb")


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="trajectory file"):
        load_torsions("nope.dcd", "nope.pdb")


def test_wrapped_error_across_the_cut():
    assert abs(wrapped_diff(179.0, -179.0)) == pytest.approx(2.0)
    assert wrapped_diff(-179.0, 179.0) == pytest.approx(2.0)
    e = pointwise_errors(np.array([[179.0, 10.0]] * 3), np.array([[-179.0, 10.0]] * 3))
    assert e["mae"] == pytest.approx(1.0)  # (2 + 0) / 2
    assert e["rmse"] == pytest.approx(np.sqrt(2.0))


def test_wrap_range_and_feature_round_trip():
    a = np.array([[-540.0, 181.0], [359.0, 0.0], [180.0, -180.0]])
    w = wrap(a)
    assert (w >= -180).all() and (w < 180).all()
    np.testing.assert_allclose(w, [[-180.0, -179.0], [-1.0, 0.0], [-180.0, -180.0]])
    f = to_features(a)
    assert f.shape == (3, 4)
    np.testing.assert_allclose(f[:, 0] ** 2 + f[:, 1] ** 2, 1.0)
    np.testing.assert_allclose(wrapped_diff(from_features(f), a), 0.0, atol=1e-9)
    np.testing.assert_allclose(from_features(3.0 * f), from_features(f))  # radial projection
    with pytest.raises(ValueError, match="even last dimension"):
        from_features(np.zeros((2, 3)))


def test_user_trajectories_as_a_data_source(tmp_path):
    from idff.md.series import load_series

    top = _topology()
    paths = []
    for i in range(3):
        angles = [(phi + 5.0 * i, psi) for phi, psi in KNOWN]
        p = tmp_path / f"run{i}.dcd"
        md.Trajectory(_frames(angles), top).save_dcd(str(p))
        paths.append(str(p))
    md.Trajectory(_frames(KNOWN[:1]), top).save_pdb(str(tmp_path / "top.pdb"))
    s = load_series({"source": "files", "trajectories": paths,
                     "topology": str(tmp_path / "top.pdb"), "frame_ps": 2.0})
    assert len(s["train"]) == 1 and s["dt"] == 2.0 and s["periodic"]
    np.testing.assert_allclose(wrapped_diff(s["floor"][:, 0], np.array(KNOWN)[:, 0]), 10.0,
                               atol=0.05)
    with pytest.raises(ValueError, match="at least two trajectories"):
        load_series({"source": "files", "trajectories": paths[:1], "topology": "x"})
    with pytest.raises(ValueError, match="unknown data source"):
        load_series({"source": "ftp"})
