import pytest
import torch

from conftest import smooth_field, smooth_image, t
from dccnnreg.losses import (
    LossWeights, diffusion, inverse_consistency, local_ncc, negative_jacobian, registration_loss, soft_dice,
)
from dccnnreg.transforms import identity_grid


def test_ncc_zero_for_affine_intensity_change(rng):
    a = t(smooth_image(rng, (16, 16, 16)))
    assert local_ncc(a, 3 * a + 2, window=5) < 1e-3
    assert local_ncc(a, t(smooth_image(rng, (16, 16, 16))), window=5) > 0.3


def test_smoothness_zero_for_translation_positive_otherwise(rng):
    assert diffusion(torch.ones(1, 3, 6, 6, 6)) == 0
    assert diffusion(t(smooth_field(rng, (8, 8, 8), 1.0))) > 0


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
