"""Registration pairs with a known answer: a real scan and copies of it deformed by random diffeomorphisms.

Each copy is ``moving = bias * (scan o phi) + noise`` with ``phi = exp(v)`` a random smooth
diffeomorphism (:func:`~dccnnreg.synth.random_diffeomorphism`); registering it onto the scan must
give the pull-back ``phi^-1 = exp(-v)``, so the recovered forward field can be scored by its
end-point error (EPE) against the known one, besides the Dice of the warped labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy import ndimage

from .data import Sample
from .preprocess import normalize_intensity
from .synth import random_diffeomorphism
from .transforms import apply_field, at_grid_points
from .world import displacement_mm


@dataclass
class KnownPair:
    """A moving sample on the scan's grid and the forward field ``(3, X, Y, Z)`` (voxels) that undoes it."""

    moving: Sample
    true_forward: np.ndarray


def resample_scan(image: np.ndarray, labels: np.ndarray, spacing_in: float, spacing_out: float):
    """Resample an isotropic scan (linear) and its labels (nearest) to ``spacing_out`` mm; returns image,
    labels and the new RAS affine (identity directions, origin at voxel 0)."""
    zoom = spacing_in / spacing_out
    img = ndimage.zoom(image.astype(np.float32), zoom, order=1)
    lab = ndimage.zoom(labels.astype(np.int32), zoom, order=0)
    return img, lab, np.diag([spacing_out] * 3 + [1.0])


def make_known_pairs(scan: Sample, n: int, rng: np.random.Generator, amplitude_mm: float = 15.0,
                     sigma_mm: float = 12.0, bias: float = 0.1, noise: float = 0.01) -> list[KnownPair]:
    """``n`` deformed copies of ``scan`` (same grid) with their known forward fields.

    ``amplitude_mm`` bounds the velocity, ``sigma_mm`` is its smoothing scale; ``bias`` the
    amplitude of a smooth multiplicative intensity field and ``noise`` the Gaussian noise SD
    (relative to the [0, 1] intensity range), so a method cannot match intensities exactly.
    """
    spacing = float(nib.affines.voxel_sizes(scan.affine).mean())
    shape = scan.image.shape
    pairs = []
    for k in range(n):
        u, u_inv = random_diffeomorphism(shape, rng, amplitude=amplitude_mm / spacing, sigma=sigma_mm / spacing)
        image, labels = apply_field(scan.image, scan.labels, u)
        field = ndimage.gaussian_filter(rng.normal(size=shape), 30.0 / spacing)
        field = 1.0 + bias * field / max(np.abs(field).max(), 1e-12)
        image = normalize_intensity(image * field + noise * rng.normal(size=shape) * (image > 0))
        pairs.append(KnownPair(Sample(f"{scan.name}-warp{k}", image, labels, scan.affine), u_inv.astype(np.float32)))
    return pairs


def endpoint_error_mm(u: np.ndarray, u_true: np.ndarray, affine: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Mean and 95th percentile of ``|u - u_true|`` in mm (fields ``(3, X, Y, Z)`` in voxels on ``affine``; ``u`` may
    be on a grid subdivided from it, :func:`~dccnnreg.transforms.at_grid_points`)."""
    err = displacement_mm(np.asarray(at_grid_points(u, u_true.shape[1:]), np.float64) - u_true, affine)
    err = err if mask is None else err[mask.astype(bool)]
    return {"epe_mean_mm": float(err.mean()), "epe_p95_mm": float(np.percentile(err, 95))}
