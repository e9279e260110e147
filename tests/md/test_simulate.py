"""A short real OpenMM run of alanine dipeptide (idff.md.simulate)."""

import numpy as np
import pytest

pytest.importorskip("openmm")
pytest.importorskip("mdtraj")

from idff.md.simulate import SimulationSettings, default_pdb, simulate  # noqa: E402


def test_shipped_structure():
    import mdtraj as md

    t = md.load(str(default_pdb()))
    assert t.n_atoms == 22
    assert [r.name for r in t.topology.residues] == ["ACE", "ALA", "NME"]
    phi = np.rad2deg(md.compute_phi(t)[1][0, 0])
    assert phi < 0  # an L-alanine structure sits on the left of the Ramachandran plot


def test_settings_validation():
    with pytest.raises(ValueError, match="whole number"):
        SimulationSettings(frame_ps=1.001)
    with pytest.raises(ValueError, match="n_traj"):
        SimulationSettings(n_traj=0)


@pytest.mark.slow
def test_short_run_is_finite_and_cached(tmp_path):
    s = SimulationSettings(n_traj=2, length_ns=0.004, frame_ps=0.5, equilibration_ps=0.5)
    res = simulate(s, tmp_path, progress=False)
    assert res.angles.shape == (2, 8, 2) and res.names == ["phi_2", "psi_2"]
    assert np.isfinite(res.angles).all() and np.isfinite(res.energies).all()
    assert (res.energies < 0).all()  # a folded, solvated dipeptide has negative energy
    assert not np.allclose(res.angles[0], res.angles[1])  # independent seeds
    assert all(p.is_file() for p in res.trajectories)
    mtime = (res.directory / "torsions.npz").stat().st_mtime
    again = simulate(s, tmp_path, progress=False)
    np.testing.assert_array_equal(again.angles, res.angles)
    assert (res.directory / "torsions.npz").stat().st_mtime == mtime
    other = simulate(SimulationSettings(n_traj=1, length_ns=0.002, frame_ps=0.5,
                                        equilibration_ps=0.0), tmp_path, progress=False)
    assert other.directory != res.directory


def test_missing_structure(tmp_path):
    with pytest.raises(FileNotFoundError):
        simulate(SimulationSettings(pdb=str(tmp_path / "none.pdb")), tmp_path)
