"""Fréchet distance / FID: closed forms, agreement with pytorch-fid, stats files, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from idff.eval import fid as F

pf_score = pytest.importorskip("pytorch_fid.fid_score")
pf_inception = pytest.importorskip("pytorch_fid.inception")


def test_frechet_distance_closed_form_1d_and_diagonal():
    # 1-D: (m1 - m2)² + (s1 - s2)²
    d = F.frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[1.0]]))
    assert d == pytest.approx(9.0 + (2.0 - 1.0) ** 2, abs=1e-12)
    # commuting (diagonal) covariances: sum over dims of (Δμ)² + (√a - √b)²
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert F.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)
    assert F.frechet_distance(mu1, np.diag(a), mu1, np.diag(a)) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_matches_pytorch_fid_on_random_stats():
    rng = np.random.default_rng(0)
    for d in (3, 16, 64):
        x, y = rng.normal(size=(200, d)), rng.normal(size=(150, d)) @ rng.normal(size=(d, d)) + 0.3
        m1, s1, m2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
        ours = F.frechet_distance(m1, s1, m2, s2)
        ref = pf_score.calculate_frechet_distance(m1, s1, m2, s2)
        assert ours == pytest.approx(ref, rel=1e-6, abs=1e-6)


def test_frechet_distance_rejects_mismatched_stats():
    with pytest.raises(ValueError, match="same feature network"):
        F.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


class RandomFeatures(nn.Module):
    """A small fixed random conv net: images (B, 3, H, W) in [0, 1] -> (B, 12)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1234)
        self.conv = nn.Conv2d(3, 12, 3, stride=2)
        self.lin = nn.Linear(12, 12)

    def forward(self, x):
        return self.lin(torch.tanh(self.conv(x)).mean((2, 3)))


class PytorchFidWrapper(nn.Module):
    """pytorch-fid's model interface: returns a list with one (B, D, 1, 1) map."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return [self.net(x)[:, :, None, None]]


def _write_folder(path, n, shift, size=16, seed=0, mode="RGB"):
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (size, size, 3) if mode == "RGB" else (size, size)
        arr = np.clip(rng.normal(128 + shift, 50, size=shape), 0, 255).astype(np.uint8)
        Image.fromarray(arr, mode=mode).save(path / f"{i:04d}.png")
    return path


def test_folder_fid_agrees_with_pytorch_fid_reference(tmp_path):
    a = _write_folder(tmp_path / "a", 70, 0, seed=1)
    b = _write_folder(tmp_path / "b", 55, 40, seed=2)
    net = RandomFeatures().eval()
    ext = F.FeatureExtractor(net, "FD-random", "RGB", "random conv net", "random")
    sa = F.folder_stats(a, ext, cache_dir=None, batch_size=16, progress=False)
    sb = F.folder_stats(b, ext, cache_dir=None, batch_size=16, progress=False)
    ours = F.frechet_distance(sa.mu, sa.sigma, sb.mu, sb.sigma)

    wrapped = PytorchFidWrapper(net).eval()
    refs = []
    for folder in (a, b):
        files = sorted(folder.glob("*.png"))
        refs.append(pf_score.calculate_activation_statistics(
            files, wrapped, batch_size=16, dims=12, device="cpu", num_workers=0))
    ref = pf_score.calculate_frechet_distance(refs[0][0], refs[0][1], refs[1][0], refs[1][1])
    assert ours > 0.01  # the sets differ, so the check is not vacuous
    assert abs(ours - ref) < 1e-3
    np.testing.assert_allclose(sa.mu, refs[0][0], atol=1e-5)
    np.testing.assert_allclose(sa.sigma, refs[0][1], atol=1e-5)
    assert sa.n == 70 and sa.mu.dtype == np.float64


def test_stats_npz_round_trip_readable_by_pytorch_fid(tmp_path):
    a = _write_folder(tmp_path / "a", 20, 0)
    ext = F.FeatureExtractor(RandomFeatures().eval(), "FD-random", "RGB", "p", "r")
    st = F.folder_stats(a, ext, cache_dir=None, progress=False)
    st.save(tmp_path / "a.npz")
    back = F.load_stats(tmp_path / "a.npz")
    np.testing.assert_array_equal(back.mu, st.mu)
    np.testing.assert_array_equal(back.sigma, st.sigma)
    assert back.n == 20 and back.meta["feature"] == "FD-random"
    m, s = pf_score.compute_statistics_of_path(str(tmp_path / "a.npz"), None, 1, 12, "cpu")
    np.testing.assert_array_equal(m, st.mu)
    np.testing.assert_array_equal(s, st.sigma)


def test_folder_stats_are_cached_and_invalidated(tmp_path):
    a = _write_folder(tmp_path / "a", 12, 0)
    calls = []
    net = RandomFeatures().eval()

    def fn(x):
        calls.append(x.shape[0])
        return net(x)

    ext = F.FeatureExtractor(fn, "FD-random", "RGB", "p", "r")
    s1 = F.folder_stats(a, ext, cache_dir=tmp_path / "cache", progress=False)
    s2 = F.folder_stats(a, ext, cache_dir=tmp_path / "cache", progress=False)
    assert sum(calls) == 12  # second call read the .npz
    np.testing.assert_array_equal(s1.sigma, s2.sigma)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    _write_folder(tmp_path / "a2", 1, 0)
    (tmp_path / "a2" / "0000.png").rename(a / "extra.png")
    F.folder_stats(a, ext, cache_dir=tmp_path / "cache", progress=False)
    assert sum(calls) == 25  # a new file changes the key


def test_grey_images_are_read_as_rgb_like_pytorch_fid(tmp_path):
    a = _write_folder(tmp_path / "g", 4, 0, mode="L")
    batch = next(F.iter_image_batches(F.list_images(a), "RGB", 4))
    assert batch.shape == (4, 3, 16, 16)
    assert torch.equal(batch[:, 0], batch[:, 1]) and 0 <= batch.min() and batch.max() <= 1


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        F.list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        F.list_images(tmp_path / "empty")
    d = tmp_path / "mixed"
    d.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(d / "a.png")
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(d / "b.png")
    with pytest.raises(ValueError, match="same size"):
        list(F.iter_image_batches(F.list_images(d), "RGB", 2))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="'mu'"):
        F.load_stats(tmp_path / "bad.npz")


def test_inception_weights_lookup_order(tmp_path, monkeypatch):
    monkeypatch.delenv(F.INCEPTION_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert F.find_inception_weights() is None
    cached = tmp_path / "hub" / "checkpoints" / F.INCEPTION_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert F.find_inception_weights() == cached
    env = tmp_path / "env.pth"
    env.write_bytes(b"x")
    monkeypatch.setenv(F.INCEPTION_ENV, str(env))
    assert F.find_inception_weights() == env
    explicit = tmp_path / "explicit.pth"
    explicit.write_bytes(b"x")
    assert F.find_inception_weights(explicit) == explicit
    with pytest.raises(FileNotFoundError, match="do not exist"):
        F.find_inception_weights(tmp_path / "nope.pth")
    monkeypatch.setenv(F.INCEPTION_ENV, str(tmp_path / "nope.pth"))
    with pytest.raises(FileNotFoundError, match=F.INCEPTION_ENV):
        F.find_inception_weights()


def test_missing_inception_weights_offline_error(tmp_path, monkeypatch):
    import urllib.error

    monkeypatch.delenv(F.INCEPTION_ENV, raising=False)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(FileNotFoundError, match=F.INCEPTION_FILE) as err:
        F.inception_extractor()
    assert F.INCEPTION_ENV in str(err.value) and "--inception" in str(err.value)


def test_local_inception_file_is_read_as_a_state_dict(tmp_path, monkeypatch):
    """A local file is read with weights_only=True and handed to pytorch-fid's network as a
    state dict (no download, no torch.hub unpickling); a wrong file names the path."""
    monkeypatch.delenv(F.INCEPTION_ENV, raising=False)

    def no_download(*a, **k):
        raise AssertionError("must not download or unpickle through torch.hub")

    bogus = tmp_path / "weights.pth"
    torch.save({"not": torch.zeros(1)}, bogus)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    with pytest.raises(ValueError, match="do not fit pytorch-fid's network"):
        F.inception_extractor(bogus)
    assert pf_inception.load_state_dict_from_url is not None  # restored after the build
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="cannot read Inception weights from"):
        F.inception_extractor(garbage)


def _fid_architecture():
    """pytorch-fid's FID Inception architecture with random weights (fid_inception_v3's
    construction without its download)."""
    net = pf_inception._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pf_inception.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pf_inception.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pf_inception.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pf_inception.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pf_inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pf_inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pf_inception.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pf_inception.FIDInceptionE_1(1280)
    net.Mixed_7c = pf_inception.FIDInceptionE_2(2048)
    return net


def test_fid_inception_is_filled_from_the_given_state_dict():
    torch.manual_seed(0)
    state = _fid_architecture().state_dict()
    net = F.build_fid_inception(state)
    assert isinstance(net, pf_inception.InceptionV3)
    assert pf_inception.load_state_dict_from_url is not F.build_fid_inception  # restored

    def total(sd):
        return sum(v.double().sum().item() for k, v in sd.items() if not k.startswith("fc."))

    assert total(net.state_dict()) == pytest.approx(total(state), rel=1e-12)
    assert sum(1 for k in net.state_dict() if "num_batches" not in k) == sum(
        1 for k in state if not k.startswith("fc.") and "num_batches" not in k)
