"""The ANTs SyN baseline: recovers a known warp; its exported fields are what ANTs itself applies."""

import numpy as np
import pytest

from dccnnreg.data import Sample
from dccnnreg.metrics import dice_per_label, folding_percent
from dccnnreg.register import write_registration
from dccnnreg.synth import phantom, random_diffeomorphism

ants = pytest.importorskip("ants")
from dccnnreg.syn import register_syn  # noqa: E402
from dccnnreg.transforms import apply_field

INNER = (slice(4, -4),) * 3


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    shape = (32, 40, 32)
    image, labels = phantom(shape, rng)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = [-40.0, 10.0, 5.0]
    u, u_inv = random_diffeomorphism(shape, rng, amplitude=2.5, sigma=4.0)
    moved, moved_labels = apply_field(image, labels, u)  # moving = fixed o phi_u: the answer is phi_u^-1
    fixed, moving = Sample("fixed", image, labels, affine), Sample("moving", moved, moved_labels, affine)
    return fixed, moving, u, u_inv, register_syn(moving, fixed, "quick")


def epe(a, b):
    return float(np.linalg.norm(a - b, axis=0)[INNER].mean())


def test_syn_recovers_a_known_warp_without_folding(pair):
    fixed, moving, u, u_inv, reg = pair
    zero = np.zeros_like(u)
    assert epe(reg.forward, u_inv) < 0.85 * epe(zero, u_inv)
    assert epe(reg.inverse, u) < 0.85 * epe(zero, u)
    dice = lambda lab: np.mean(list(dice_per_label(lab, fixed.labels).values()))
    assert dice(reg.warped_labels) > dice(moving.labels) + 0.05
    assert folding_percent(reg.jacobian) == 0.0 and reg.seconds > 0


def test_exported_field_is_what_ants_applies(pair, tmp_path):
    fixed, moving, _, _, reg = pair
    paths = write_registration(reg, fixed.affine, tmp_path / "syn")
    from dccnnreg.world import to_ants

    f, m = to_ants(fixed.image, fixed.affine), to_ants(moving.image, moving.affine)
    theirs = ants.apply_transforms(f, m, [str(paths["forward"])], interpolator="linear").numpy()
    assert np.abs(theirs - reg.warped)[INNER].max() < 1e-3


def test_unknown_preset_is_refused(pair):
    fixed, moving, *_ = pair
    with pytest.raises(ValueError, match="preset"):
        register_syn(moving, fixed, "fastest")
