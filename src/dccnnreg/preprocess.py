"""ANTs preprocessing: the network grid, N4 bias correction, affine alignment, skull stripping.

Every image that enters the network lives on one *network grid*: ``shape`` voxels of ``spacing``
mm, axis-aligned with the template and centred on the template's brain mask. Subjects reach it
by an affine registration to the template head; the affine (``.mat``, ANTs format) is kept so
results map back to native space with ``antsApplyTransforms -t [affine.mat,1]``.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from .nifti import InputError, atomic_path, check_same_grid, load_volume, save_volume, voxel_volume_mm3
from .world import from_ants, to_ants


def normalize_intensity(img: np.ndarray, lo: float = 0.5, hi: float = 99.5) -> np.ndarray:
    """Rescale so the ``lo``/``hi`` percentiles of non-zero voxels map to 0/1, clipped: same shape, float32."""
    vals = img[img != 0] if np.any(img != 0) else img.ravel()
    a, b = np.percentile(vals, [lo, hi])
    if b <= a:
        b = a + 1.0
    return np.clip((img - a) / (b - a), 0.0, 1.0).astype(np.float32)


def _ants():
    import ants

    return ants


def network_grid_affine(mask_data: np.ndarray, mask_affine: np.ndarray, shape, spacing: float) -> np.ndarray:
    """Affine of a ``shape`` grid of ``spacing`` mm, axes along the template's, centred on the mask centroid.

    The first grid point sits on a voxel centre of the template, so a grid at the template's spacing
    copies the template (its labels above all) without interpolation."""
    centroid_vox = np.array(ndimage.center_of_mass(mask_data > 0))
    centre = mask_affine[:3, :3] @ centroid_vox + mask_affine[:3, 3]
    axes = mask_affine[:3, :3] / np.sqrt((mask_affine[:3, :3] ** 2).sum(axis=0))
    affine = np.eye(4)
    affine[:3, :3] = axes * spacing
    corner = centre - affine[:3, :3] @ ((np.asarray(shape) - 1) / 2)
    corner_vox = np.linalg.solve(mask_affine[:3, :3], corner - mask_affine[:3, 3])
    affine[:3, 3] = mask_affine[:3, :3] @ np.round(corner_vox) + mask_affine[:3, 3]
    return affine


def resample_to_grid(img, affine: np.ndarray, shape, interpolator: str, transforms=()):
    """Resample an ANTsImage onto the grid (``affine``, ``shape``) through optional ANTs transforms."""
    ref = to_ants(np.zeros(shape, np.float32), affine)
    return _ants().apply_transforms(ref, img, list(transforms), interpolator=interpolator) if transforms else \
        _ants().apply_transforms(ref, img, [], interpolator=interpolator)


def make_atlas(template: dict, out: dict, shape, spacing: float) -> None:
    """Put the template on the network grid: head, skull-stripped normalised brain, mask, labels."""
    ants = _ants()
    mask = load_volume(template["brain_mask"], labels=True)
    affine = network_grid_affine(mask.data, mask.affine, shape, spacing)
    head = resample_to_grid(ants.image_read(str(template["head"])), affine, shape, "linear")
    m = resample_to_grid(ants.image_read(str(template["brain_mask"])), affine, shape, "nearestNeighbor")
    lab = resample_to_grid(ants.image_read(str(template["labels"])), affine, shape, "genericLabel")
    head_d = head.numpy()
    mask_d = m.numpy() > 0.5
    save_volume(head_d, affine, out["head"], np.float32)
    save_volume(normalize_intensity(head_d * mask_d), affine, out["brain"], np.float32)
    save_volume(mask_d.astype(np.uint8), affine, out["mask"], np.uint8)
    save_volume(lab.numpy().round().astype(np.int32), affine, out["labels"], np.int32)


def make_affine_reference(template: dict, out_path, shape, spacing: float, fine_spacing: float) -> None:
    """The template head over the network grid's region (``shape`` x ``spacing`` mm) at ``fine_spacing`` mm: what
    the affine stage registers to when the network grid is coarser (too little anatomy is left at, e.g., 6 mm)."""
    mask = load_volume(template["brain_mask"], labels=True)
    fine_shape = [int(np.ceil(n * spacing / fine_spacing)) for n in shape]
    affine = network_grid_affine(mask.data, mask.affine, fine_shape, fine_spacing)
    head = resample_to_grid(_ants().image_read(str(template["head"])), affine, fine_shape, "linear")
    save_volume(head.numpy(), affine, out_path, np.float32)


def check_subject(image_path, labels_path=None) -> dict:
    """Validate a subject's image (and label map, on the image's grid) before any work: a status dict
    ``{"ok", "error", "shape", "spacing_mm"}``; only :class:`InputError` counts as bad input."""
    try:
        vol = load_volume(image_path)
        if labels_path:
            check_same_grid(vol, load_volume(labels_path, labels=True), image_path, labels_path)
    except InputError as e:
        return {"ok": False, "error": str(e), "shape": "", "spacing_mm": ""}
    return {"ok": True, "error": "", "shape": "x".join(map(str, vol.data.shape)),
            "spacing_mm": "x".join(f"{v:.4g}" for v in vol.spacing)}


def check_subjects(dataset: str, files, out_path) -> pd.DataFrame:
    """:func:`check_subject` for each ``(subject, image, labels)`` of ``files`` (empty labels: none); writes a
    TSV (``subject``, ``ok``, ``error``, ``shape``, ``spacing_mm``) and logs each failure."""
    rows = []
    for subject, image, labels in files:
        status = check_subject(image, labels or None)
        if not status["ok"]:
            logging.error("subject %s/%s is left out: %s", dataset, subject, status["error"])
        rows.append({"subject": subject, **status})
    table = pd.DataFrame(rows, columns=["subject", "ok", "error", "shape", "spacing_mm"])
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    logging.info("%d of %d subjects passed their input checks", int(table["ok"].sum()), len(table))
    return table


N4_SPACING_MM = 4.0  # N4 fits its bias field on a grid of about this spacing (shrink factor 4 at 1 mm)


def n4_shrink_factor(spacing) -> int:
    """N4's shrink factor for an image of voxel ``spacing`` (mm per axis): the smallest that puts the fitting
    grid at ``N4_SPACING_MM`` or coarser on the finest axis (4 at 1 mm, as fMRIPrep and antsBrainExtraction;
    2 at 3 mm; 1 from 4 mm). The bias field is smooth: a finer fit costs time (7x at 1 mm for shrink 2) for
    nothing."""
    return max(1, math.ceil(N4_SPACING_MM / min(spacing) - 1e-6))


AFFINE_METRICS = ("GC", "mattes")  # antspyx names: global correlation, Mattes mutual information


def metric_mask(mask_path, fixed, margin_mm: float):
    """Where the affine's metric is evaluated: the template brain mask ``mask_path`` (any grid) grown by ``margin_mm``
    (skull and scalp around the brain, not the neck or the face), on the grid of ``fixed`` (an ANTsImage)."""
    ants = _ants()
    brain = ants.resample_image_to_target(ants.image_read(str(mask_path)), fixed, interp_type="nearestNeighbor").numpy() > 0
    if not brain.any():
        raise InputError(f"{mask_path}: the template brain mask has no voxel inside the affine stage's reference")
    near = ndimage.distance_transform_edt(~brain, sampling=fixed.spacing) <= margin_mm
    return fixed.new_image_like(near.astype(np.float32))


def translation_transform(translation):
    """An ANTs affine transform that is the translation ``translation`` (mm, ANTs' LPS)."""
    return _ants().create_ants_transform("AffineTransform", dimension=3, translation=tuple(translation))


def initial_translation(fixed, moving, mask, out_path, radius_mm: float = 40.0, step_mm: float = 6.0) -> np.ndarray:
    """Where the masked affine starts (ANTsImages ``fixed``, ``moving``, ``mask`` on ``fixed``'s grid): the translation
    that correlates ``moving`` best with ``fixed`` inside ``mask``, searched on a ``step_mm`` lattice within
    ``radius_mm`` of the images' centres of mass aligned (ANTs' own start, which a neck, a face or a field of view
    below the cerebellum moves off the brain). Written to ``out_path`` (ANTs ``.mat``); returned in mm (ANTs' LPS)."""
    ants = _ants()
    coarse = ants.resample_image(fixed, (step_mm,) * 3, use_voxels=False, interp_type=0)
    inside = np.nonzero(ants.resample_image_to_target(mask, coarse, interp_type="nearestNeighbor").numpy() > 0)
    r = int(round(radius_mm / step_mm))
    axes, spacing = np.asarray(coarse.direction), np.asarray(coarse.spacing)
    start = np.asarray(ants.get_center_of_mass(moving)) - np.asarray(ants.get_center_of_mass(fixed))
    padded = ants.from_numpy(np.zeros(tuple(np.asarray(coarse.shape) + 2 * r), np.float32), spacing=tuple(spacing),
                             origin=tuple(np.asarray(coarse.origin) - axes @ (r * spacing)), direction=axes)
    smooth = ants.smooth_image(moving, step_mm / 2, sigma_in_physical_coordinates=True)
    shifted = ants.apply_ants_transform_to_image(translation_transform(start), smooth, padded,
                                                 interpolation="linear").numpy()
    f = coarse.numpy()[inside]
    f = (f - f.mean()) / (f.std() + 1e-12)
    best, shift = -np.inf, np.zeros(3)
    for offset in np.ndindex(2 * r + 1, 2 * r + 1, 2 * r + 1):
        m = shifted[inside[0] + offset[0], inside[1] + offset[1], inside[2] + offset[2]]
        corr = float(((m - m.mean()) * f).mean() / (m.std() + 1e-12))
        if corr > best:
            best, shift = corr, np.asarray(offset) - r
    translation = start + axes @ (shift * spacing)
    ants.write_transform(translation_transform(translation), str(out_path))
    return translation


def affine_preprocess(image_path, atlas_head_path, out: dict, n4: bool = True, reference_path=None,
                      metric: str = "GC", mask_path=None, mask_margin_mm: float | None = 20.0) -> None:
    """N4 bias correction, affine registration to the atlas head (or to ``reference_path``, the head at a finer
    spacing, :func:`make_affine_reference`), resampling onto the atlas head's grid.

    ``metric`` is ``GC`` (global correlation: the template and the subject have one contrast, T1) or ``mattes``
    (mutual information: any contrasts). With ``mask_path`` (the template brain mask) and a ``mask_margin_mm`` (``None``:
    the whole image, config ``preprocess.affine_mask_mm: null``) it is evaluated only within :func:`metric_mask` and
    starts from :func:`initial_translation`: whole heads differ most where the brain is not
    (neck coverage, the face, a field of view that ends below the cerebellum), and on the whole image 4 of 9 real
    head anatomies aligned those instead of the brain (``bench/skull_strip_heads.py``).

    Writes ``out['image']`` (float32) and ``out['affine']`` (the ANTs ``.mat`` mapping atlas-grid
    points to native space). The image is validated first; a bad file raises
    :class:`~dccnnreg.nifti.InputError` naming it.
    """
    if metric not in AFFINE_METRICS:
        raise ValueError(f"affine metric {metric!r}: one of {AFFINE_METRICS}")
    ants = _ants()
    vol = load_volume(image_path)
    img = to_ants(vol.data - vol.data.min(), vol.affine)
    if n4:  # the bias field is fitted inside the head (ANTs' foreground mask), not over the background
        img = ants.n4_bias_field_correction(img, mask=ants.get_mask(img), shrink_factor=n4_shrink_factor(img.spacing))
    grid = ants.image_read(str(atlas_head_path))
    finer = reference_path and str(reference_path) != str(atlas_head_path)  # the workflow passes the head itself
    fixed = ants.image_read(str(reference_path)) if finer else grid         # where the grid is fine enough
    with tempfile.TemporaryDirectory() as tmp:
        masked = {}
        if mask_path and mask_margin_mm is not None:
            masked["mask"] = metric_mask(mask_path, fixed, mask_margin_mm)
            masked["initial_transform"] = str(Path(tmp) / "start.mat")
            initial_translation(fixed, img, masked["mask"], masked["initial_transform"])
        reg = ants.registration(fixed=fixed, moving=img, type_of_transform="Affine", aff_metric=metric,
                                random_seed=1, aff_random_sampling_rate=0.5, outprefix=f"{tmp}/affine_", **masked)
        mat = [t for t in reg["fwdtransforms"] if t.endswith(".mat")][0]
        Path(out["affine"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mat, out["affine"])
        data, affine = from_ants(ants.apply_transforms(grid, img, [mat], interpolator="linear"))
    save_volume(data, affine, out["image"], np.float32)


def labels_to_grid(labels_path, image_path, atlas_head_path, affine_mat, out_path) -> None:
    """Carry a subject's label map (on its image's grid) onto the network grid through its preprocessing
    affine, with generic-label interpolation."""
    ants = _ants()
    vol, lab = load_volume(image_path), load_volume(labels_path, labels=True)
    check_same_grid(vol, lab, image_path, labels_path)
    fixed = ants.image_read(str(atlas_head_path))
    warped = ants.apply_transforms(fixed, to_ants(lab.data.astype(np.float32), lab.affine), [str(affine_mat)],
                                   interpolator="genericLabel", whichtoinvert=[False])
    data, affine = from_ants(warped)
    save_volume(np.rint(data).astype(np.int32), affine, out_path, np.int32)


def affine_determinant(mat_path) -> float:
    """Determinant of the linear part of an ANTs affine ``.mat``: native volume per atlas volume."""
    params = np.asarray(_ants().read_transform(str(mat_path)).parameters, dtype=np.float64)
    return float(np.linalg.det(params[:9].reshape(3, 3)))


def preprocess_qc(subjects: dict[str, tuple[str, str]], out_path) -> pd.DataFrame:
    """Brain volumes of a batch of preprocessed subjects; ``subjects`` maps each to its (brain mask on the
    network grid, affine ``.mat``). One row per subject: ``mask_ml`` (the mask in atlas space),
    ``affine_determinant`` and ``brain_ml_native`` (their product: the brain's volume in the subject's own
    image). Written to ``out_path`` (TSV)."""
    rows = []
    for subject, (mask_path, affine_mat) in subjects.items():
        mask = load_volume(mask_path, labels=True)
        ml = float((mask.data > 0).sum()) * voxel_volume_mm3(mask.affine) / 1000.0
        det = affine_determinant(affine_mat)
        rows.append({"subject": subject, "mask_ml": ml, "affine_determinant": det, "brain_ml_native": ml * abs(det)})
    table = pd.DataFrame(rows, columns=["subject", "mask_ml", "affine_determinant", "brain_ml_native"])
    with atomic_path(out_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return table


def clean_mask(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Threshold a warped mask, keep the largest connected component, fill holes: bool ``(X, Y, Z)``."""
    m = prob > threshold
    lab, n = ndimage.label(m)
    if n > 1:
        sizes = ndimage.sum(m, lab, range(1, n + 1))
        m = lab == (1 + int(np.argmax(sizes)))
    return ndimage.binary_fill_holes(ndimage.binary_closing(m, iterations=1))


def skull_strip(image_path, atlas_head_path, atlas_mask_path, out: dict, enabled: bool = True) -> None:
    """Template-based brain extraction on the network grid.

    The atlas head is registered to the (affinely aligned) subject with ANTs SyN, its brain mask
    warped back (linear), thresholded at 0.5 and cleaned (:func:`clean_mask`). Writes
    ``out['brain']`` (normalised to [0, 1]) and ``out['mask']``. With ``enabled=False`` (data already
    skull-stripped) the mask is the non-zero voxels.
    """
    ants = _ants()
    vol = load_volume(image_path)
    if enabled:
        fixed = ants.image_read(str(image_path))
        moving = ants.image_read(str(atlas_head_path))
        with tempfile.TemporaryDirectory() as tmp:  # ANTs' own default is a file prefix in /tmp, never removed
            reg = ants.registration(fixed=fixed, moving=moving, type_of_transform="SyNOnly", reg_iterations=(40, 20, 0),
                                    random_seed=1, syn_metric="CC", syn_sampling=2, outprefix=f"{tmp}/strip_")
            warped = ants.apply_transforms(fixed, ants.image_read(str(atlas_mask_path)), reg["fwdtransforms"],
                                           interpolator="linear")
        mask = clean_mask(warped.numpy())
    else:
        mask = clean_mask((vol.data > np.percentile(vol.data, 1)).astype(np.float32))
    save_volume(mask.astype(np.uint8), vol.affine, out["mask"], np.uint8)
    save_volume(normalize_intensity(vol.data * mask), vol.affine, out["brain"], np.float32)
