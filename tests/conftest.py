import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def smooth_field(rng, shape, amplitude, sigma=3.0) -> np.ndarray:
    """Random smooth displacement ``(3, *shape)`` with max magnitude about ``amplitude`` voxels."""
    u = np.stack([gaussian_filter(rng.normal(size=shape), sigma) for _ in range(3)])
    return (u * amplitude / np.abs(u).max()).astype(np.float32)


def smooth_image(rng, shape, sigma=2.0) -> np.ndarray:
    """Random smooth image rescaled to [0, 1]."""
    img = gaussian_filter(rng.random(shape), sigma)
    return ((img - img.min()) / (img.max() - img.min())).astype(np.float32)


def t(x) -> torch.Tensor:
    """numpy ``(C, ...)`` -> torch ``(1, C, ...)``; a 3D array gets a channel axis."""
    x = torch.as_tensor(np.asarray(x))
    return x[None, None] if x.ndim == 3 else x[None]


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    """The tiny demo study, run once to its report (shared; restore what you change, or work on a copy)."""
    from tiny_study import built_study, make_study

    return built_study(tmp_path_factory, "study", make_study)
