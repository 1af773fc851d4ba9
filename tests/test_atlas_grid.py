"""The network grid sits on the template's voxel lattice: at the template's spacing the atlas is a copy."""

import numpy as np
import pytest

from dccnnreg.nifti import load_volume, save_volume
from dccnnreg.preprocess import make_affine_reference, make_atlas, network_grid_affine

pytest.importorskip("ants")


def test_grid_points_fall_on_template_voxel_centres(rng):
    affine = np.array([[-3.0, 0, 0, 90.3], [0, 3.0, 0, -120.7], [0, 0, 3.0, -70.1], [0, 0, 0, 1]])
    mask = np.zeros((30, 34, 28), bool)
    mask[5:23, 7:29, 4:21] = True
    grid = network_grid_affine(mask, affine, (16, 20, 14), 3.0)
    corner_vox = np.linalg.solve(affine[:3, :3], grid[:3, 3] - affine[:3, 3])
    assert np.allclose(corner_vox, np.round(corner_vox))
    assert np.allclose(grid[:3, :3], affine[:3, :3])
    centre = grid[:3, :3] @ ((np.array([16, 20, 14]) - 1) / 2) + grid[:3, 3]
    centroid = affine[:3, :3] @ np.array([13.5, 17.5, 12.0]) + affine[:3, 3]
    assert np.abs(centre - centroid).max() <= 3.0  # centred on the brain to within a voxel


def test_atlas_labels_at_the_template_spacing_are_copied_exactly(tmp_path, rng):
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = [-40.2, -55.9, -31.4]
    shape = (26, 30, 24)
    labels = rng.integers(0, 40, size=shape).astype(np.int32)
    mask = np.zeros(shape, np.uint8)
    mask[4:22, 5:25, 3:20] = 1
    head = rng.random(shape).astype(np.float32) + 0.1
    paths = {k: tmp_path / f"{k}.nii.gz" for k in ("head", "brain_mask", "labels")}
    save_volume(head, affine, paths["head"], np.float32)
    save_volume(mask, affine, paths["brain_mask"], np.uint8)
    save_volume(labels, affine, paths["labels"], np.int32)
    out = {k: tmp_path / f"atlas_{k}.nii.gz" for k in ("head", "brain", "mask", "labels")}
    make_atlas(paths, out, (16, 18, 14), 3.0)
    atlas = load_volume(out["labels"], labels=True)
    start = np.rint(np.linalg.solve(affine[:3, :3], atlas.affine[:3, 3] - affine[:3, 3])).astype(int)
    block = labels[start[0]:start[0] + 16, start[1]:start[1] + 18, start[2]:start[2] + 14]
    assert np.array_equal(atlas.data, block)


def test_affine_reference_covers_the_grid_region_at_the_finer_spacing(tmp_path, rng):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-30.0, -41.0, -25.0]
    shape = (30, 36, 28)
    mask = np.zeros(shape, np.uint8)
    mask[6:24, 8:28, 5:22] = 1
    paths = {k: tmp_path / f"{k}.nii.gz" for k in ("head", "brain_mask", "labels")}
    save_volume(rng.random(shape).astype(np.float32), affine, paths["head"], np.float32)
    save_volume(mask, affine, paths["brain_mask"], np.uint8)
    save_volume(mask.astype(np.int32), affine, paths["labels"], np.int32)
    out = {k: tmp_path / f"atlas_{k}.nii.gz" for k in ("head", "brain", "mask", "labels")}
    make_atlas(paths, out, (8, 10, 8), 6.0)
    make_affine_reference(paths, tmp_path / "same.nii.gz", (8, 10, 8), 6.0, 6.0)
    make_affine_reference(paths, tmp_path / "fine.nii.gz", (8, 10, 8), 6.0, 2.0)
    grid, same, fine = (load_volume(p) for p in (out["head"], tmp_path / "same.nii.gz", tmp_path / "fine.nii.gz"))
    assert np.array_equal(same.data, grid.data) and np.array_equal(same.affine, grid.affine)
    assert fine.data.shape == (24, 30, 24) and np.allclose(fine.spacing, 2.0)
    extent = [(a[:3, :3] @ np.array([[0, 0, 0], np.array(d.shape) - 1]).T).T + a[:3, 3] for a, d in
              ((grid.affine, grid.data), (fine.affine, fine.data))]
    # the same region: centred alike, the fine grid reaching to within a grid voxel of the coarse one's ends
    assert np.allclose(extent[0].mean(0), extent[1].mean(0), atol=2.0)
    assert np.abs(extent[0] - extent[1]).max() <= 6.0
    start = np.rint(np.linalg.solve(affine[:3, :3], fine.affine[:3, 3] - affine[:3, 3])).astype(int)
    head = load_volume(paths["head"]).data
    assert np.allclose(fine.data, head[start[0]:start[0] + 24, start[1]:start[1] + 30, start[2]:start[2] + 24])
