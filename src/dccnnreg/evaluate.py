"""Per-pair evaluation: Dice and HD95 per structure, folding, SDlogJ, inverse consistency; the workflow's `evaluate` job."""

from __future__ import annotations

import json
import logging

import nibabel as nib
import numpy as np
import pandas as pd

from .metrics import dice_per_label, folding_percent, hd95_per_label, inverse_consistency_mm, jacobian_det, sdlogj
from .nifti import atomic_path, load_volume
from .register import output_paths
from .transforms import grid_subdivision
from .world import read_ants_field, subdivided_affine


def evaluate_pair(
    fixed_labels: np.ndarray,
    warped_labels: np.ndarray,
    affine: np.ndarray,
    forward: np.ndarray | None = None,
    inverse: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    labels=None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Evaluate one registered pair on the fixed grid ``affine``.

    Returns a per-structure table (``label``, ``dice``, ``hd95_mm``) over ``labels`` (default: labels
    present in both maps, background excluded) and a summary dict: ``dice_mean``, ``hd95_mean_mm``
    and, when fields ``(3, X, Y, Z)`` are given, ``folding_pct`` (non-positive Jacobian, within
    ``mask`` if given), ``sdlogj`` and ``inverse_consistency_mm``, all at the fixed grid's voxels (fields written
    on a subdivision of it, :func:`~dccnnreg.transforms.subdivided_shape`, are taken at its points). An affine-only
    result has no field: its folding is 0 and SDlogJ 0 by definition.
    """
    spacing = nib.affines.voxel_sizes(affine)
    dice = dice_per_label(warped_labels, fixed_labels, labels)
    hd = hd95_per_label(warped_labels, fixed_labels, spacing, dice.keys())
    table = pd.DataFrame({"label": list(dice), "dice": list(dice.values()), "hd95_mm": [hd[k] for k in dice]})
    summary = {
        "dice_mean": float(table["dice"].mean()),
        "hd95_mean_mm": float(table["hd95_mm"].mean()),
        "folding_pct": 0.0,
        "sdlogj": 0.0,
        "inverse_consistency_mm": 0.0,
    }
    if forward is not None:
        jac = jacobian_det(forward, fixed_labels.shape)
        summary["folding_pct"] = folding_percent(jac, mask)
        summary["sdlogj"] = sdlogj(jac, mask)
    if forward is not None and inverse is not None:
        summary["inverse_consistency_mm"] = inverse_consistency_mm(forward, inverse, affine, mask, fixed_labels.shape)
    return table, summary


def read_field(path, grid_shape: tuple[int, int, int], grid_affine: np.ndarray) -> np.ndarray:
    """The displacement field ``(3, X', Y', Z')`` (voxels) of the ANTs field file ``path``, checked to lie on the grid
    ``grid_shape`` / ``grid_affine`` or on a subdivision of it (as ``register`` writes them); ValueError naming
    ``path`` otherwise."""
    field, affine = read_ants_field(path)
    try:
        k = grid_subdivision(field.shape[1:], grid_shape)
    except ValueError as err:
        raise ValueError(f"{path}: {err}: registered on another grid than the labels it is scored against") from None
    expected = subdivided_affine(grid_affine, k)
    if not np.allclose(affine, expected, atol=1e-3):
        finer = f" {k} times finer" if k > 1 else ""
        raise ValueError(f"{path}: the field's grid (affine {np.round(affine, 4).tolist()}) is not the labels' "
                         f"grid{finer} (affine {np.round(expected, 4).tolist()})")
    return field


def evaluate_job(fixed_labels, mask, pairs: dict, labels, method: str, out_table, out_summary) -> None:
    """Score registered pairs against the atlas labels: ``pairs`` maps each subject to its deformable
    result's file prefix (a registration folder / subject) or, for an affine-only result (no field),
    to its warped label map. Writes the per-structure rows and one summary row per subject."""
    fixed = load_volume(fixed_labels, labels=True)
    inside = load_volume(mask, labels=True).data > 0
    tables, summaries = [], []
    for subject, path in pairs.items():
        if method == "affine":
            warped, fwd, inv, times = load_volume(path, labels=True), None, None, {}  # part of preprocessing
        else:
            reg = output_paths(path)
            warped = load_volume(reg["warped_labels"], labels=True)
            fwd, inv = (read_field(reg[k], fixed.data.shape, fixed.affine) for k in ("forward", "inverse"))
            times = json.loads(reg["timing"].read_text())
        table, summary = evaluate_pair(fixed.data, warped.data, fixed.affine, fwd, inv, inside, labels)
        tables.append(table.assign(method=method, subject=subject))
        summaries.append({**summary, "method": method, "subject": subject, "seconds": times.get("seconds"),
                          "refine_seconds": times.get("refine_seconds", 0.0 if times else None)})
        logging.info("%s %s: Dice %.3f, %.3f %% folding", method, subject, summary["dice_mean"], summary["folding_pct"])
    with atomic_path(out_table) as tmp:
        pd.concat(tables, ignore_index=True).to_csv(tmp, sep="\t", index=False)
    with atomic_path(out_summary) as tmp:
        pd.DataFrame(summaries).to_csv(tmp, sep="\t", index=False)
