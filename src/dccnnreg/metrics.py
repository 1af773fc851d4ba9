"""Evaluation metrics on numpy arrays. Label maps ``(X, Y, Z)`` of integers, fields ``(3, X, Y, Z)`` in voxels."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from .transforms import at_grid_points, compose, grid_subdivision, jacobian_determinant
from .world import displacement_mm


def dice_per_label(a: np.ndarray, b: np.ndarray, labels=None) -> dict[int, float]:
    """Dice of each label present in both maps (background 0 excluded), or of ``labels`` if given."""
    if a.shape != b.shape:
        raise ValueError(f"label maps differ in shape: {a.shape} vs {b.shape}")
    if labels is None:
        labels = np.intersect1d(np.unique(a), np.unique(b))
    out = {}
    for lab in labels:
        if lab == 0:
            continue
        ma, mb = a == lab, b == lab
        denom = ma.sum() + mb.sum()
        if denom:
            out[int(lab)] = float(2.0 * np.logical_and(ma, mb).sum() / denom)
    return out


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, border_value=1)


def hd95(a: np.ndarray, b: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> float:
    """95th percentile Hausdorff distance in **mm** between two binary masks.

    Surface voxels are those removed by one erosion (the image border is not a surface);
    distances from each surface to the other, both directions pooled, as in MedPy's ``hd95``.
    ``nan`` if either mask is empty.
    """
    sa, sb = _surface(a.astype(bool)), _surface(b.astype(bool))
    if not sa.any() or not sb.any():
        return float("nan")
    da = ndimage.distance_transform_edt(~sb, sampling=spacing)[sa]
    db = ndimage.distance_transform_edt(~sa, sampling=spacing)[sb]
    return float(np.percentile(np.concatenate([da, db]), 95))


def hd95_per_label(a: np.ndarray, b: np.ndarray, spacing, labels) -> dict[int, float]:
    """:func:`hd95` (mm) for each label in ``labels``."""
    return {int(lab): hd95(a == lab, b == lab, spacing) for lab in labels}


def jacobian_det(u: np.ndarray, grid_shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Jacobian determinant of ``x + u(x)``: ``(3, X, Y, Z)`` -> ``(X, Y, Z)`` (see :mod:`dccnnreg.transforms`); of
    a field on a grid subdivided from ``grid_shape``, at the points of ``grid_shape`` (differences taken on the
    field's own grid; the determinant does not depend on the voxel units)."""
    k = 1 if grid_shape is None else grid_subdivision(u.shape[1:], grid_shape)
    return jacobian_determinant(torch.as_tensor(u, dtype=torch.float64)[None], stride=k)[0].numpy()


def folding_percent(jac: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Percentage of voxels (within ``mask``) whose Jacobian determinant is <= 0."""
    j = jac if mask is None else jac[mask.astype(bool)]
    return float(100.0 * np.mean(j <= 0))


def log_jacobian(jac: np.ndarray, floor: float = 1e-9) -> np.ndarray:
    """``log(det J)`` with determinants clipped below at ``floor`` (folded voxels have no logarithm): same shape."""
    return np.log(np.clip(jac, floor, None))


def sdlogj(jac: np.ndarray, mask: np.ndarray | None = None, floor: float = 1e-9) -> float:
    """Standard deviation of :func:`log_jacobian` (floor ``floor``) within ``mask``."""
    j = jac if mask is None else jac[mask.astype(bool)]
    return float(np.std(log_jacobian(j, floor)))


def inverse_consistency_mm(u: np.ndarray, u_inv: np.ndarray, affine: np.ndarray, mask=None,
                           grid_shape: tuple[int, int, int] | None = None) -> float:
    """Mean length in mm of ``phi o phi^-1 - id`` at the voxels (in ``mask``) of the grid ``affine`` of shape
    ``grid_shape``; ``u`` and ``u_inv`` ``(3, X', Y', Z')`` are on that grid (the default) or on one subdivided from
    it (:func:`~dccnnreg.transforms.subdivided_shape`), each map trilinear between its grid points: the measure is
    the same whatever grid a map is written on."""
    ut, vt = (torch.as_tensor(x, dtype=torch.float64)[None] for x in (u, u_inv))
    err = displacement_mm(at_grid_points(compose(ut, vt)[0].numpy(), grid_shape or u.shape[1:]), affine)
    return float(err.mean() if mask is None else err[mask.astype(bool)].mean())
