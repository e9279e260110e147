"""k-NN precision/recall and the bootstrap interval of the Fréchet distance."""

import numpy as np
import pytest
import torch

from idff.eval.distribution import frechet_bootstrap, knn_precision_recall, knn_radii


def test_knn_radii_by_hand():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    assert knn_radii(x, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(x, 2).tolist() == [3.0, 2.0, 3.0, 6.0]
    with pytest.raises(ValueError, match="k must be"):
        knn_radii(x, 4)


def test_precision_recall_separate_sharpness_from_coverage():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(2000, 2, generator=g)
    same = torch.randn(2000, 2, generator=g)
    collapsed = 0.2 * torch.randn(2000, 2, generator=g)  # inside the data, missing its tails
    off = torch.randn(2000, 2, generator=g) + 6.0  # off the data
    pr = knn_precision_recall(real, same)
    assert pr["precision"] > 0.9 and pr["recall"] > 0.9
    pr = knn_precision_recall(real, collapsed)
    assert pr["precision"] > 0.95 and pr["recall"] < 0.5
    pr = knn_precision_recall(real, off)
    assert pr["precision"] < 0.05 and pr["recall"] < 0.05
    with pytest.raises(ValueError, match="features must be"):
        knn_precision_recall(real, torch.randn(10, 3))


def test_bootstrap_interval_brackets_the_value_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    mu, cov = np.zeros(4), np.eye(4)
    widths = []
    for n in (200, 3200):
        x = rng.normal(size=(n, 4)) + 0.5
        v, lo, hi = frechet_bootstrap(x, mu, cov, n_boot=100, seed=1)
        assert lo <= v <= hi
        assert v == pytest.approx(1.0, abs=0.5)  # |Δμ|² = 4·0.25
        widths.append(hi - lo)
    assert widths[1] < 0.5 * widths[0]
