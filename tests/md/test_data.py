"""Transition pairs and data loaders for torsion trajectories (idff.md.data)."""

import pickle

import numpy as np
import pytest

from idff.md.data import TransitionStream, load_published_pickle, make_transitions
from idff.md.dihedrals import to_features


def _series(n=20, k=2, seed=0):
    return np.random.default_rng(seed).uniform(-180, 180, (n, k))


def test_pairs_lag_and_history():
    s = _series()
    lag, h = 3, 2
    ts = make_transitions([s], lag=lag, history=h, cond="state")
    f = to_features(s)
    first = lag * h
    n = len(s) - lag - first
    assert ts.x0.shape == (n, 4) and ts.x1.shape == (n, 4) and ts.cond.shape == (n, 12)
    np.testing.assert_allclose(ts.x0[0], f[first], atol=1e-6)
    np.testing.assert_allclose(ts.x1[0], f[first + lag], atol=1e-6)
    # current frame first, then k - lag, k - 2 lag
    np.testing.assert_allclose(ts.cond[0], np.concatenate([f[6], f[3], f[0]]), atol=1e-6)


def test_index_conditioning_and_non_periodic():
    s = _series(10, 3)
    ts = make_transitions([s, s], lag=1, cond="index", periodic=False, index_scale=10.0)
    assert ts.cond.shape == (18, 1)
    np.testing.assert_allclose(ts.cond[:9, 0], np.arange(9) / 10.0, atol=1e-6)
    np.testing.assert_allclose(ts.x1[:9], s[1:], atol=1e-5)


def test_trajectory_shorter_than_lag():
    with pytest.raises(ValueError, match="has 5 frames, fewer than the 7"):
        make_transitions([_series(5)], lag=3, history=1)
    with pytest.raises(ValueError, match="lag must be >= 1"):
        make_transitions([_series()], lag=0)
    with pytest.raises(ValueError, match="unknown conditioning"):
        make_transitions([_series()], cond="time")


def test_stream_batches():
    ts = make_transitions([_series(50)], lag=1)
    x1, (x0, c) = next(iter(TransitionStream(ts, 8, seed=0)))
    assert x1.shape == (8, 4) and x0.shape == (8, 4) and c.shape == (8, 4)
    # the conditioning carries the current frame, which is x0
    np.testing.assert_allclose(c, x0)


def test_published_pickle(tmp_path):
    ang = np.random.default_rng(1).uniform(-np.pi, np.pi, (30, 4))
    p = tmp_path / "md.pkl"
    with open(p, "wb") as f:
        pickle.dump({"angles": ang, "sim_length": 25}, f)
    a, n = load_published_pickle(p, units="radians")
    assert n == 25 and a.shape == (25, 4)
    np.testing.assert_allclose(a, np.rad2deg(ang[:25]), atol=1e-9)
    with open(p, "wb") as f:
        pickle.dump({"angles": ang}, f)
    with pytest.raises(ValueError, match="'angles' and 'sim_length'"):
        load_published_pickle(p)
    with open(p, "wb") as f:
        pickle.dump({"angles": ang, "sim_length": 99}, f)
    with pytest.raises(ValueError, match="sim_length=99 but 'angles' has 30 frames"):
        load_published_pickle(p)
    with pytest.raises(FileNotFoundError):
        load_published_pickle(tmp_path / "missing.pkl")
