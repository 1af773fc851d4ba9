"""The affine stage aligns brains, not heads: its metric is evaluated around the template brain only."""

import tempfile

import numpy as np
import pytest

from dccnnreg.nifti import load_volume, save_volume
from dccnnreg.preprocess import affine_preprocess, initial_translation, labels_to_grid, metric_mask, skull_strip
from dccnnreg.world import to_ants

ants = pytest.importorskip("ants")
SPACING = 2.0


def ellipsoid(shape, centre, radii) -> np.ndarray:
    """Bool ``shape``: voxels inside the ellipsoid of ``centre`` and ``radii`` (voxels)."""
    grid = np.indices(shape, dtype=np.float64)
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1.0


def head(shape, centre, neck: bool) -> tuple[np.ndarray, np.ndarray]:
    """A head phantom (brain with asymmetric dark ventricles, dark skull, bright scalp; with ``neck``, a bright neck
    below it along the second axis) and its brain mask."""
    c = np.asarray(centre, float)
    brain = ellipsoid(shape, c, (13, 11, 10))
    image = np.where(ellipsoid(shape, c, (17, 15, 14)), 0.9, 0.0)  # scalp
    image[ellipsoid(shape, c, (15, 13, 12))] = 0.15  # skull
    image[brain] = 0.6
    image[ellipsoid(shape, c + (-3, -2, 1), (3, 5, 2))] = 0.2
    image[ellipsoid(shape, c + (4, 3, -1), (2, 3, 4))] = 0.95
    if neck:
        x, y, z = np.indices(shape)
        image[((x - c[0]) ** 2 + (z - c[2] + 2) ** 2 <= 144) & (y > c[1] + 12)] = 0.8
    return image.astype(np.float32), brain


def test_metric_mask_grows_the_brain_by_the_margin_in_mm(tmp_path):
    shape, affine = (21, 21, 21), np.diag([SPACING, SPACING, SPACING, 1.0])
    brain = np.zeros(shape, np.uint8)
    brain[10, 10, 10] = 1
    save_volume(brain, affine, tmp_path / "mask.nii.gz", np.uint8)
    fixed = to_ants(np.zeros(shape, np.float32), affine)
    grown = metric_mask(tmp_path / "mask.nii.gz", fixed, 6.0).numpy() > 0
    distance_mm = SPACING * np.sqrt(((np.indices(shape) - 10) ** 2).sum(axis=0))
    assert np.array_equal(grown, distance_mm <= 6.0)


def write_heads(tmp_path) -> dict:
    """Template (no neck) and subject (the same head moved by (2, -3, 1) voxels, with a thick neck) with brain masks."""
    shape, affine = (40, 56, 40), np.diag([SPACING, SPACING, SPACING, 1.0])
    paths = {}
    for name, centre, neck in (("template", (20, 18, 20), False), ("subject", (22, 15, 21), True)):
        image, brain = head(shape, centre, neck)
        paths[name], paths[f"{name}_mask"] = tmp_path / f"{name}.nii.gz", tmp_path / f"{name}_mask.nii.gz"
        save_volume(image, affine, paths[name], np.float32)
        save_volume(brain.astype(np.uint8), affine, paths[f"{name}_mask"], np.uint8)
    return paths


def test_the_search_finds_the_brain_where_the_neck_moves_the_centre_of_mass(tmp_path):
    paths = write_heads(tmp_path)
    fixed, moving = (ants.image_read(str(paths[k])) for k in ("template", "subject"))
    mask = metric_mask(paths["template_mask"], fixed, 10.0)
    com = np.asarray(ants.get_center_of_mass(moving)) - np.asarray(ants.get_center_of_mass(fixed))
    true = np.array([2.0, -3.0, 1.0]) * SPACING * np.array([-1, -1, 1])  # voxels (2, -3, 1) in ANTs' LPS mm
    found = initial_translation(fixed, moving, mask, tmp_path / "start.mat")
    assert np.abs(com - true).max() > 15.0  # the neck moves ANTs' own start 15+ mm off the brain
    assert np.abs(found - true).max() <= 6.0  # within one step of the search lattice


def brain_dice_after_affine(tmp_path, mask_margin_mm) -> float:
    """Dice of the phantom subject's brain, carried by :func:`affine_preprocess`, with the template's."""
    paths = write_heads(tmp_path)
    out = {"image": tmp_path / "aligned.nii.gz", "affine": tmp_path / "affine.mat"}
    affine_preprocess(paths["subject"], paths["template"], out, n4=False, mask_path=paths["template_mask"],
                      mask_margin_mm=mask_margin_mm)
    labels_to_grid(paths["subject_mask"], paths["subject"], paths["template"], out["affine"], tmp_path / "brain.nii.gz")
    aligned = load_volume(tmp_path / "brain.nii.gz", labels=True).data > 0
    template_brain = load_volume(paths["template_mask"], labels=True).data > 0
    return 2 * (aligned & template_brain).sum() / (aligned.sum() + template_brain.sum())


def test_a_shifted_head_with_another_neck_is_aligned_by_its_brain(tmp_path):
    assert brain_dice_after_affine(tmp_path, 10.0) > 0.85  # 0 from ANTs' start


def test_no_margin_means_the_whole_head_as_before(tmp_path):
    assert brain_dice_after_affine(tmp_path, None) < 0.5  # config affine_mask_mm: null; the neck wins


def test_the_ants_stages_leave_nothing_in_the_temporary_folder(tmp_path, monkeypatch):
    """ANTs writes its transforms under a /tmp prefix unless told where: a cohort would leave files on every node."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    paths = write_heads(tmp_path)
    aligned = {"image": tmp_path / "aligned.nii.gz", "affine": tmp_path / "affine.mat"}
    affine_preprocess(paths["subject"], paths["template"], aligned, n4=False, mask_path=paths["template_mask"],
                      mask_margin_mm=10.0)
    stripped = {"brain": tmp_path / "brain.nii.gz", "mask": tmp_path / "mask.nii.gz"}
    skull_strip(aligned["image"], paths["template"], paths["template_mask"], stripped)
    assert all(p.exists() for p in (*aligned.values(), *stripped.values()))
    assert sorted(p.name for p in scratch.iterdir()) == []
