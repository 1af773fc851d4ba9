"""Known-warp pairs: the stored answer undoes the deformation; end-point error in mm."""

import numpy as np
import pytest

from dccnnreg.data import Sample
from dccnnreg.known_warps import endpoint_error_mm, make_known_pairs, resample_scan
from dccnnreg.metrics import dice_per_label, folding_percent, jacobian_det
from dccnnreg.synth import phantom
from dccnnreg.transforms import apply_field


def mean_dice(a, b):
    return float(np.mean(list(dice_per_label(a, b).values())))


def test_the_known_forward_field_undoes_the_warp():
    rng = np.random.default_rng(0)
    image, labels = phantom((32, 36, 30), rng)
    scan = Sample("scan", image, labels, np.diag([2.0, 2.0, 2.0, 1.0]))
    pairs = make_known_pairs(scan, 2, rng, amplitude_mm=12.0, sigma_mm=8.0, bias=0.0, noise=0.0)
    for pair in pairs:
        assert pair.moving.image.shape == image.shape and folding_percent(jacobian_det(pair.true_forward)) == 0
        _, back = apply_field(None, pair.moving.labels, pair.true_forward)
        assert mean_dice(pair.moving.labels, labels) < 0.9 < mean_dice(back, labels)
    assert not np.allclose(pairs[0].true_forward, pairs[1].true_forward)


def test_endpoint_error_is_in_mm():
    u_true = np.zeros((3, 6, 6, 6))
    u_true[1] = 1.5  # voxels along j
    affine = np.diag([2.0, 3.0, 2.0, 1.0])
    assert endpoint_error_mm(u_true, u_true, affine) == {"epe_mean_mm": 0.0, "epe_p95_mm": 0.0}
    assert endpoint_error_mm(np.zeros_like(u_true), u_true, affine)["epe_mean_mm"] == pytest.approx(4.5)
    mask = np.zeros((6, 6, 6), bool)
    mask[0] = True
    half = u_true.copy()
    half[:, 1:] = 0
    assert endpoint_error_mm(half, u_true, affine, mask)["epe_mean_mm"] == 0.0


def test_resample_scan_halves_the_grid():
    image = np.arange(8 * 8 * 8, dtype=np.float32).reshape(8, 8, 8)
    labels = (image > 255).astype(np.int32) * 7
    img, lab, affine = resample_scan(image, labels, 1.0, 2.0)
    assert img.shape == lab.shape == (4, 4, 4) and np.allclose(np.diag(affine), [2, 2, 2, 1])
    assert set(np.unique(lab)) <= {0, 7}
