"""One pair registered by a trained model: the :class:`Registration` (fields, warped volumes, times) and its
files (warped images, ANTs-readable fields)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from . import layout
from .config import field_subdivision
from .data import Sample, check_common_grid, image_tensor
from .device import autocast
from .losses import LossWeights
from .metrics import jacobian_det
from .model import HALF_MAPS, DCCNNLSTMReg, polish_inverses
from .nifti import atomic_path, save_volume
from .refine import RefineConfig, refine
from .transforms import apply_field, at_grid_points, grid_subdivision, mutual_inverse_step, unfold
from .world import subdivided_affine, write_ants_field

log = logging.getLogger(__name__)


@dataclass
class Registration:
    """Result for one pair on the fixed grid ``(X, Y, Z)``: the warped volumes, the Jacobian determinant and
    voxel fields ``(3, X', Y', Z')``, on that grid or on one subdivided from it
    (:func:`~dccnnreg.transforms.subdivided_shape`)."""

    forward: np.ndarray
    inverse: np.ndarray
    warped: np.ndarray
    warped_labels: np.ndarray | None
    jacobian: np.ndarray
    seconds: float
    refine_seconds: float = 0.0

    @classmethod
    def from_fields(cls, moving: Sample, forward: np.ndarray, inverse: np.ndarray, seconds: float,
                    refine_seconds: float = 0.0) -> "Registration":
        """The result of voxel fields ``(3, X', Y', Z')`` on the fixed grid or a subdivision of it: ``moving``
        warped by ``forward`` (image trilinear, labels by the generic label interpolator) and the Jacobian
        determinant, at the fixed grid's voxels."""
        fwd, inv = forward.astype(np.float32), inverse.astype(np.float32)
        warped, warped_labels = apply_field(moving.image, moving.labels, at_grid_points(fwd, moving.image.shape),
                                            label_mode="generic")
        jacobian = jacobian_det(fwd, moving.image.shape).astype(np.float32)
        return cls(fwd, inv, warped, warped_labels, jacobian, seconds, refine_seconds)


def _elapsed(start: float, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def unfolded_maps(maps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``maps`` with its forward and inverse fields freed of the folds that composing fold-free half-maps can leave
    on the grid (:func:`~dccnnreg.transforms.unfold`; forward and inverse alike, so exchanging moving and fixed
    still exchanges the results exactly). Logs how many voxels changed."""
    out = dict(maps)
    for key in ("forward", "inverse"):
        out[key], changed, left = unfold(maps[key].float())
        if changed:
            (log.warning if left else log.info)("%s map: %d voxels smoothed around grid folds, %d still folded",
                                                key, changed, left)
    return out


def exported_maps(half: dict[str, torch.Tensor], subdivision: int, mutual: bool) -> dict[str, torch.Tensor]:
    """The forward and inverse maps a registration writes, from the symmetric network's (or refinement's) half-maps
    ``half``: composed with polished inverse paths (:func:`~dccnnreg.model.polish_inverses`, ``subdivision``), with
    ``mutual`` drawn one step towards each other's inverse (:func:`~dccnnreg.transforms.mutual_inverse_step`), then
    :func:`unfolded_maps`. Every step treats the two maps alike: exchanging moving and fixed exchanges the results."""
    maps = polish_inverses({k: half[k].float() for k in HALF_MAPS}, subdivision=subdivision)
    if mutual:
        maps["forward"], maps["inverse"] = mutual_inverse_step(maps["forward"], maps["inverse"])
    return unfolded_maps(maps)


def fine_fields(affine: np.ndarray, subdivision: int) -> bool:
    """Whether fields ``subdivision`` times finer than the grid of ``affine`` are as fine as ``field_subdivision:
    auto`` makes them (:func:`~dccnnreg.config.field_subdivision`): there :func:`exported_maps` takes the mutual-inverse
    step (real inter-subject pairs, fields at 1 mm: inverse consistency 0.094 -> 0.064 mm, Dice -0.002; at 3 mm
    0.38 -> 0.26 mm but Dice -0.008, ``README.md``)."""
    return subdivision >= field_subdivision("auto", float(nib.affines.voxel_sizes(affine).max()))


def register_pair(model: DCCNNLSTMReg, moving: Sample, fixed: Sample, device, precision: str = "fp32",
                  refinement: tuple[RefineConfig, LossWeights] | None = None, subdivision: int = 1) -> Registration:
    """Register ``moving`` onto ``fixed`` (same grid). Fields are float32 whatever the precision.

    ``refinement`` (settings and the objective's weights, for the symmetric network only) refines the
    network's answer for the pair (:func:`~dccnnreg.refine.refine`, fp32), timed as ``refine_seconds``. The
    symmetric network's forward and inverse maps are made once, at the end (:func:`exported_maps`, fp32, with the
    mutual-inverse step where :func:`fine_fields`): refinement carries the inverse paths along without needing them
    accurate on the way. With ``subdivision`` ``k > 1`` they are composed on a grid ``k`` times finer (timed with the
    refinement when there is one, else with the network): the fields of the :class:`Registration` are on that grid."""
    check_common_grid([fixed, moving])
    refining = refinement is not None and refinement[0].steps > 0
    mutual = fine_fields(fixed.affine, subdivision)
    m, f = image_tensor(moving.image, device), image_tensor(fixed.image, device)
    start = time.perf_counter()
    with torch.no_grad():
        with autocast(device, precision):
            out = model(m, f)
        if (refining or subdivision > 1) and "psi_m" not in out:
            raise ValueError(f"refinement and subdivision need the symmetric network's half-maps; "
                             f"{model.method} has none")
        if "psi_m" in out and not refining:
            out = exported_maps(out, subdivision, mutual)
    seconds = _elapsed(start, device)
    refine_seconds = 0.0
    if refining:
        start = time.perf_counter()
        out, _ = refine(out, m, f, refinement[1], refinement[0])
        with torch.no_grad():
            out = exported_maps(out, subdivision, mutual)
        refine_seconds = _elapsed(start, device)
    fwd, inv = (out[k].float()[0].cpu().numpy() for k in ("forward", "inverse"))
    return Registration.from_fields(moving, fwd, inv, seconds, refine_seconds)


def output_paths(prefix) -> dict[str, Path]:
    """Files written by :func:`write_registration` for ``prefix`` (e.g. ``out/sub-01``)."""
    return layout.files(prefix, layout.REGISTRATION)


def write_registration(reg: Registration, affine: np.ndarray, prefix) -> dict[str, Path]:
    """Write the warped image and labels, the forward / inverse ANTs fields, the Jacobian map and
    the times (``*_time.json``: ``seconds`` of the method, ``refine_seconds`` of the refinement).

    ``*_fwd_warp.nii.gz`` maps the moving image onto the fixed grid
    (``antsApplyTransforms -r fixed -i moving -t fwd``); ``*_inv_warp.nii.gz`` the reverse. Fields on a subdivided
    grid are written on it (the same world extent as ``affine``'s grid, finer spacing).
    """
    paths = output_paths(prefix)
    field_affine = subdivided_affine(affine, grid_subdivision(reg.forward.shape[1:], reg.warped.shape))
    save_volume(reg.warped, affine, paths["warped"], np.float32)
    if reg.warped_labels is not None:
        save_volume(reg.warped_labels, affine, paths["warped_labels"], np.int32)
    write_ants_field(reg.forward, field_affine, paths["forward"])
    write_ants_field(reg.inverse, field_affine, paths["inverse"])
    save_volume(reg.jacobian, affine, paths["jacobian"], np.float32)
    with atomic_path(paths["timing"]) as tmp:
        Path(tmp).write_text(json.dumps({"seconds": reg.seconds, "refine_seconds": reg.refine_seconds}))
    return paths
