import numpy as np
import pytest
import SimpleITK as sitk
import torch
from scipy.spatial import cKDTree

from conftest import smooth_field
from dccnnreg.metrics import (
    dice_per_label, folding_percent, hd95, inverse_consistency_mm, jacobian_det, sdlogj,
)
from dccnnreg.transforms import integrate_velocity


def test_dice_identity_is_one_and_background_excluded(rng):
    lab = rng.integers(0, 4, size=(10, 10, 10))
    d = dice_per_label(lab, lab)
    assert set(d) == {1, 2, 3} and all(v == 1.0 for v in d.values())


def test_dice_half_overlap_and_only_shared_labels():
    a = np.zeros((10, 10, 10), int)
    b = np.zeros_like(a)
    a[:4] = 1
    b[2:6] = 1  # overlap 2 slabs of 4 -> Dice 0.5
    a[8:] = 7  # only in a: not reported
    d = dice_per_label(a, b)
    assert d == {1: pytest.approx(0.5)}


def test_hd95_of_shifted_slabs_is_shift_in_mm():
    a = np.zeros((30, 12, 12), bool)
    b = np.zeros_like(a)
    a[5:15], b[8:18] = True, True  # every surface point is 3 voxels from the other surface
    assert hd95(a, b, spacing=(2.0, 1.0, 1.0)) == pytest.approx(6.0)
    assert hd95(a, a) == 0.0
    assert np.isnan(hd95(a, np.zeros_like(a)))


def balls(shape, spheres) -> np.ndarray:
    """A label map with label ``k + 1`` in the ball ``spheres[k] = (centre, radius)`` (voxels), later ones on top."""
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"))
    out = np.zeros(shape, np.int32)
    for k, (centre, radius) in enumerate(spheres, 1):
        out[((grid - np.reshape(centre, (3, 1, 1, 1))) ** 2).sum(0) <= radius**2] = k
    return out


def sitk_image(a: np.ndarray, spacing) -> sitk.Image:
    img = sitk.GetImageFromArray(np.ascontiguousarray(a.transpose(2, 1, 0)))  # SimpleITK's arrays are (z, y, x)
    img.SetSpacing([float(s) for s in spacing])
    return img


def reference_hd95(a: np.ndarray, b: np.ndarray, spacing) -> float:
    """An independent HD95 (MedPy's definition: both directed surface distances pooled): SimpleITK's face-connected
    contours and exact nearest neighbours between the contour points in mm."""
    points = []
    for m in (a, b):
        contour = sitk.BinaryContour(sitk_image(m.astype(np.uint8), spacing), fullyConnected=False)
        points.append(np.argwhere(sitk.GetArrayFromImage(contour).transpose(2, 1, 0) > 0) * np.asarray(spacing))
    d_ab, d_ba = cKDTree(points[1]).query(points[0])[0], cKDTree(points[0]).query(points[1])[0]
    return float(np.percentile(np.concatenate([d_ab, d_ba]), 95))


SPACING = (1.2, 1.0, 2.5)
FIXED = balls((40, 44, 24), [((20, 22, 12), 12), ((15, 20, 11), 5), ((26, 25, 13), 4)])
MOVED = balls((40, 44, 24), [((21, 20, 12), 11), ((16, 21, 12), 6), ((24, 24, 12), 3)])


def test_dice_agrees_with_simpleitk_label_overlap():
    overlap = sitk.LabelOverlapMeasuresImageFilter()
    overlap.Execute(sitk_image(MOVED, SPACING), sitk_image(FIXED, SPACING))
    ours = dice_per_label(MOVED, FIXED)
    assert set(ours) == {1, 2, 3} and len(set(ours.values())) == 3
    for label, dice in ours.items():
        assert dice == pytest.approx(overlap.GetDiceCoefficient(label), abs=1e-12)


def test_hd95_agrees_with_an_independent_implementation():
    for label in (1, 2, 3):
        a, b = MOVED == label, FIXED == label
        expected = reference_hd95(a, b, SPACING)
        assert expected > 1.0  # the shapes differ: not a trivial agreement on 0
        assert hd95(a, b, SPACING) == pytest.approx(expected, abs=1e-9)


def test_identity_field_has_no_folding_and_zero_sdlogj():
    jac = jacobian_det(np.zeros((3, 8, 8, 8)))
    assert folding_percent(jac) == 0.0 and sdlogj(jac) == pytest.approx(0.0)


def test_folding_counts_reflected_region():
    u = np.zeros((3, 10, 10, 10))
    x = np.arange(10, dtype=float)
    u[0] = (-2.0 * x)[:, None, None]  # x -> -x everywhere: det -1
    assert folding_percent(jacobian_det(u)) == 100.0
    mask = np.zeros((10, 10, 10), bool)
    mask[:5] = True
    jac = np.ones((10, 10, 10))
    jac[:2] = -0.5
    assert folding_percent(jac, mask) == pytest.approx(40.0)


def test_sdlogj_of_known_determinants():
    jac = np.array([1.0, np.e, np.e**-1, 1.0])
    assert sdlogj(jac) == pytest.approx(np.std([0.0, 1.0, -1.0, 0.0]))


def test_inverse_consistency_mm(rng):
    shape, affine = (12, 12, 12), np.diag([2.0, 2.0, 2.0, 1.0])
    shift = np.zeros((3, *shape))
    shift[1] = 1.5
    assert inverse_consistency_mm(shift, -shift, affine) == pytest.approx(0.0, abs=1e-9)
    assert inverse_consistency_mm(shift, np.zeros_like(shift), affine) == pytest.approx(3.0)
    v = torch.as_tensor(smooth_field(rng, shape, 2.0, sigma=3))[None].double()
    u, ui = integrate_velocity(v, 7)[0].numpy(), integrate_velocity(-v, 7)[0].numpy()
    inner = np.zeros(shape, bool)
    inner[3:-3, 3:-3, 3:-3] = True
    assert inverse_consistency_mm(u, ui, affine, inner) < 0.05


def test_structure_names_merge_hemispheres():
    from dccnnreg.plots import structure_name

    assert structure_name("Left_Hippocampus") == structure_name("Right_Hippocampus") == "Hippocampus"
    assert structure_name("Brain_Stem") == "Brain_Stem"
