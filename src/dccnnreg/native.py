"""What a cohort study uses of one registration: transforms from the subject's original image to the
atlas and back, atlas labels in native space, regional volumes, the log-Jacobian map and QC numbers.

Transforms (ANTs, world space). ``A`` is the affine of preprocessing (``{subject}_affine.mat``): it
maps points of the atlas (network) grid to the subject's native space. ``fwd`` and ``inv`` are the
deformable fields on the atlas grid (:mod:`dccnnreg.world`). In ``antsApplyTransforms`` a point of
the reference image goes through the listed transforms in order, so:

* native image -> atlas grid: ``-r atlas -i native -t {subject}_fwd_warp.nii.gz -t {subject}_affine.mat``;
* atlas-space data -> native grid: ``-r native -i atlas_data -t [{subject}_affine.mat,1] -t {subject}_inv_warp.nii.gz``
  (with ``-n GenericLabel`` for label maps).

:data:`NATIVE_TO_ATLAS` and :data:`ATLAS_TO_NATIVE` spell the same chains for ``ants.apply_transforms``
(``transformlist`` and ``whichtoinvert``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from . import layout
from .labels import label_name, label_values, read_label_names
from .metrics import folding_percent, log_jacobian, sdlogj
from .nifti import atomic_path, load_volume, save_like, save_volume, voxel_volume_mm3
from .preprocess import affine_determinant

# (file kind, invert) in ants.apply_transforms order; kinds name the files of :func:`subject_paths`.
NATIVE_TO_ATLAS = (("forward", False), ("affine", False))
ATLAS_TO_NATIVE = (("affine", True), ("inverse", False))
LOG_JACOBIAN_FLOOR = 1e-6  # the map's floor: log 1e-6 = -13.8 marks folded voxels without swamping means


@dataclass(frozen=True)
class AtlasSpace:
    """The atlas as the subject products need it: brain and mask on the network grid, the template's
    own label map (any grid in the same world space) with the labels to measure and their names."""

    brain: np.ndarray
    mask: np.ndarray
    labels_path: str
    label_set: tuple[int, ...]
    names: dict[int, str]


def load_atlas_space(brain, mask, template_labels, label_names=None) -> AtlasSpace:
    """Read the atlas files of a registration job (brain and mask on the network grid, the template's labels)."""
    return AtlasSpace(load_volume(brain).data, load_volume(mask, labels=True).data > 0, str(template_labels),
                      label_values(template_labels), read_label_names(label_names))


def subject_paths(prefix) -> dict[str, Path]:
    """Files of a subject's registration (:data:`~dccnnreg.layout.REGISTRATION`) and of
    :func:`write_subject_products` for ``prefix``."""
    return layout.files(prefix, {**layout.REGISTRATION, **layout.SUBJECT_PRODUCTS})


def chain(paths: dict[str, Path], steps) -> tuple[list[str], list[bool]]:
    """``transformlist`` and ``whichtoinvert`` for ``ants.apply_transforms`` from a chain of file kinds."""
    return [str(paths[k]) for k, _ in steps], [inv for _, inv in steps]


def apply_chain(reference, moving, paths: dict[str, Path], steps, interpolator: str):
    """Resample the file ``moving`` onto the grid of the file ``reference`` through a transform chain: numpy array."""
    import ants

    transforms, invert = chain(paths, steps)
    out = ants.apply_transforms(ants.image_read(str(reference)), ants.image_read(str(moving)), transforms,
                                interpolator=interpolator, whichtoinvert=invert)
    return out.numpy()


def regional_volumes(labels: np.ndarray, affine: np.ndarray, label_set, names: dict[int, str]) -> pd.DataFrame:
    """Volume in mm^3 of each label of ``label_set`` in a label map ``(X, Y, Z)`` on the grid ``affine``."""
    voxel_mm3 = voxel_volume_mm3(affine)
    counts = np.bincount(labels.ravel().clip(min=0), minlength=max(label_set, default=0) + 1)
    return pd.DataFrame({
        "label": list(label_set),
        "name": [label_name(k, names) for k in label_set],
        "volume_mm3": [float(counts[k]) * voxel_mm3 for k in label_set],
    })


def correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Pearson correlation of two images within ``mask`` (the similarity used for QC)."""
    x, y = a[mask].astype(np.float64), b[mask].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else 0.0


def write_subject_products(reg, moving_brain: np.ndarray, atlas: AtlasSpace, grid_affine: np.ndarray,
                           native_image, affine_mat, prefix) -> dict[str, Path]:
    """Write the subject-space products of a registration whose atlas-space files are at ``prefix``.

    ``reg`` is the :class:`~dccnnreg.register.Registration` on the atlas grid ``grid_affine`` (its
    fields already written by :func:`~dccnnreg.register.write_registration`), ``moving_brain`` the subject's affinely aligned
    brain, ``native_image`` the subject's original file and ``affine_mat`` its preprocessing affine.
    Writes the atlas labels on the native grid (generic-label interpolation, the original header),
    their volumes, the log-Jacobian map, the QC numbers and the transform chains (JSON).
    """
    paths = subject_paths(prefix)
    shutil.copyfile(affine_mat, paths["affine"])
    native = apply_chain(native_image, atlas.labels_path, paths, ATLAS_TO_NATIVE, "genericLabel")
    native = np.rint(native).astype(np.int32)
    save_like(native, native_image, paths["native_labels"], np.int32)
    volumes = regional_volumes(native, nib.load(str(native_image)).affine, atlas.label_set, atlas.names)  # header only
    with atomic_path(paths["volumes"]) as tmp:
        volumes.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    save_volume(log_jacobian(reg.jacobian, LOG_JACOBIAN_FLOOR), grid_affine, paths["log_jacobian"], np.float32)
    qc = {
        "similarity": correlation(reg.warped, atlas.brain, atlas.mask),
        "similarity_affine": correlation(moving_brain, atlas.brain, atlas.mask),
        "folding_pct": folding_percent(reg.jacobian, atlas.mask),
        "sdlogj": sdlogj(reg.jacobian, atlas.mask),
        "affine_determinant": affine_determinant(affine_mat),
        "seconds": reg.seconds,
        "refine_seconds": reg.refine_seconds,
    }
    with atomic_path(paths["qc"]) as tmp:
        Path(tmp).write_text(json.dumps(qc, indent=2))
    transforms = {
        "native_to_atlas": dict(zip(("transformlist", "whichtoinvert"), chain(_names(paths), NATIVE_TO_ATLAS))),
        "atlas_to_native": dict(zip(("transformlist", "whichtoinvert"), chain(_names(paths), ATLAS_TO_NATIVE))),
        "native_image": str(native_image),
    }
    with atomic_path(paths["transforms"]) as tmp:
        Path(tmp).write_text(json.dumps(transforms, indent=2))
    return paths


def _names(paths: dict[str, Path]) -> dict[str, Path]:
    """File names relative to their folder (the chains stay valid when the folder moves)."""
    return {k: Path(p.name) for k, p in paths.items()}

