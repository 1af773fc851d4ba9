import itertools

import pytest
import torch
import torch.nn.functional as F

from conftest import smooth_field, smooth_image, t
from dccnnreg.losses import (
    LossWeights, detail, diffusion, inverse_consistency, local_ncc, middle_loss, negative_jacobian, registration_loss,
    soft_dice,
)
from dccnnreg.transforms import box_mean, identity_grid


def test_ncc_zero_for_affine_intensity_change(rng):
    a = t(smooth_image(rng, (16, 16, 16)))
    assert local_ncc(a, 3 * a + 2, window=5) < 1e-3
    assert local_ncc(a, t(smooth_image(rng, (16, 16, 16))), window=5) > 0.3


def test_smoothness_zero_for_translation_positive_otherwise(rng):
    assert diffusion(torch.ones(1, 3, 6, 6, 6)) == 0
    assert diffusion(t(smooth_field(rng, (8, 8, 8), 1.0))) > 0


def test_detail_prior_spares_a_broad_displacement_and_penalises_fine_roughness(rng):
    broad, fine = t(smooth_field(rng, (24, 24, 24), 4.0, sigma=6.0)), t(smooth_field(rng, (24, 24, 24), 0.3, sigma=0.7))
    assert detail(broad, 0) is broad
    smooth = lambda u, s: middle_loss({"psi_m": u, "psi_f": -u}, *(torch.zeros(1, 1, 24, 24, 24),) * 2,
                                      LossWeights(), detail_sigma=s)[1]["smooth"]
    assert smooth(broad, 0.0) == pytest.approx(float(diffusion(broad)), rel=1e-5)
    assert smooth(broad, 2.0) < 0.2 * smooth(broad, 0.0)  # the size of a smooth displacement is not penalised
    assert smooth(fine, 2.0) > 0.7 * smooth(fine, 0.0)  # roughness finer than 2 voxels is


def test_inverse_consistency_of_translation_pair():
    u = torch.ones(1, 3, 6, 6, 6)
    assert inverse_consistency(u, -u) < 1e-10
    assert torch.isclose(inverse_consistency(u, torch.zeros_like(u)), torch.tensor(3.0))


def test_negative_jacobian_penalises_only_folds():
    assert negative_jacobian(torch.zeros(1, 3, 6, 6, 6)) == 0
    assert negative_jacobian(-2.0 * identity_grid((6, 6, 6))) == 1.0  # det -1 everywhere


def test_soft_dice_bounds():
    a = torch.zeros(1, 2, 4, 4, 4)
    a[:, 0, :2], a[:, 1, 2:] = 1, 1
    assert soft_dice(a, a) < 1e-6
    assert soft_dice(a, a.flip(1)) > 0.99


def test_registration_loss_at_identity(rng):
    img = t(smooth_image(rng, (16, 16, 16)))
    zero = torch.zeros(1, 3, 16, 16, 16)
    out = {k: zero for k in ("forward", "inverse", "psi_m", "psi_f")}
    w = LossWeights(ncc_window=5)
    total, parts = registration_loss(out, img, img, w)
    assert parts["smooth"] == parts["inverse"] == parts["jacobian"] == 0
    assert parts["sim"] < 1e-3 and parts["middle"] == pytest.approx(parts["sim"], rel=1e-3)
    assert float(total) == pytest.approx((w.sim + w.middle) * parts["sim"], rel=1e-3)


@pytest.mark.parametrize("window", [3, 5, 9])
@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_separable_box_mean_equals_the_cubic_window_clipped_at_the_border(window, dtype, atol):
    x = torch.rand(2, 3, 11, 10, 13, dtype=dtype, generator=torch.Generator().manual_seed(window))
    cubic = F.avg_pool3d(x, window, stride=1, padding=window // 2, count_include_pad=False)
    assert torch.allclose(box_mean(x, window), cubic, rtol=0, atol=atol)
    corner = x[:, :, : window // 2 + 1, : window // 2 + 1, : window // 2 + 1].mean(dim=(2, 3, 4))
    assert torch.allclose(box_mean(x, window)[:, :, 0, 0, 0], corner, rtol=0, atol=atol)


@pytest.mark.parametrize("window", [2, 4, 5, 9])  # even: one voxel more before the centre; 9: wider than the grid
def test_box_mean_is_the_mean_over_the_window_clipped_at_the_border(window):
    x = torch.rand(1, 2, 6, 5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(window))
    out, b, a = box_mean(x, window), window // 2, (window - 1) // 2
    assert out.shape == x.shape
    for i, j, k in itertools.product(*map(range, x.shape[2:])):
        box = x[:, :, max(i - b, 0): i + a + 1, max(j - b, 0): j + a + 1, max(k - b, 0): k + a + 1]
        assert torch.allclose(out[:, :, i, j, k], box.mean(dim=(2, 3, 4)), rtol=0, atol=1e-12)
