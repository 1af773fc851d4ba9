"""Exported fields are read by ANTs exactly as dccnnreg applies them."""

import numpy as np
import pytest

from conftest import smooth_field, smooth_image, t
from dccnnreg.nifti import save_volume
from dccnnreg.transforms import warp
from dccnnreg.world import (
    affine_from_itk, itk_geometry, read_ants_field, voxel_to_world, world_to_voxel, write_ants_field,
)

ants = pytest.importorskip("ants")


def oblique_affine() -> np.ndarray:
    th = 0.3
    rot = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
    a = np.eye(4)
    a[:3, :3] = rot @ np.diag([1.2, 0.9, 1.5])
    a[:3, 3] = [10.0, -20.0, 5.0]
    return a


def test_geometry_round_trip():
    a = oblique_affine()
    assert np.allclose(affine_from_itk(*itk_geometry(a)), a)


def test_world_voxel_round_trip(rng):
    u = smooth_field(rng, (6, 7, 8), 2.0)
    assert np.allclose(world_to_voxel(voxel_to_world(u, oblique_affine()), oblique_affine()), u, atol=1e-5)


def test_pure_voxel_shift_is_lps_millimetres():
    a = np.diag([2.0, 3.0, 4.0, 1.0])  # RAS-aligned axes
    u = np.zeros((3, 2, 2, 2))
    u[0] = 1.0  # one voxel along i = +2 mm in R = -2 mm in L(PS)
    assert np.allclose(voxel_to_world(u, a)[0, 0, 0], [-2.0, 0.0, 0.0])


def test_exported_field_matches_ants_apply_transforms(tmp_path, rng):
    shape, a = (20, 24, 18), oblique_affine()
    img = smooth_image(rng, shape)
    u = smooth_field(rng, shape, 4.0)
    save_volume(img, a, tmp_path / "img.nii.gz")
    write_ants_field(u, a, tmp_path / "warp.nii.gz")
    ours = warp(t(img), t(u))[0, 0].numpy()
    fixed = ants.image_read(str(tmp_path / "img.nii.gz"))
    assert np.allclose(fixed.numpy(), img)
    theirs = ants.apply_transforms(fixed, fixed, [str(tmp_path / "warp.nii.gz")], interpolator="linear").numpy()
    target = np.indices(shape) + u  # where each voxel samples; outside the image ANTs and torch pad differently
    inside = np.all((target >= 0) & (target <= np.array(shape).reshape(3, 1, 1, 1) - 1), axis=0)
    assert inside.mean() > 0.5
    assert np.abs(theirs - ours)[inside].max() < 1e-4
    assert np.abs(theirs - img).max() > 0.1  # the field really moved the image


def test_field_file_round_trip(tmp_path, rng):
    u, a = smooth_field(rng, (8, 9, 10), 3.0), oblique_affine()
    write_ants_field(u, a, tmp_path / "w.nii.gz")
    back, a2 = read_ants_field(tmp_path / "w.nii.gz")
    assert np.allclose(a2, a, atol=1e-5) and np.allclose(back, u, atol=1e-4)
