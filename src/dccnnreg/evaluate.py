"""Per-pair evaluation tables: Dice and HD95 per structure, folding, SDlogJ, inverse consistency."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd

from .metrics import dice_per_label, folding_percent, hd95_per_label, inverse_consistency_mm, jacobian_det, sdlogj


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
    ``mask`` if given), ``sdlogj`` and ``inverse_consistency_mm``. An affine-only result has no field:
    its folding is 0 and SDlogJ 0 by definition.
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
        jac = jacobian_det(forward)
        summary["folding_pct"] = folding_percent(jac, mask)
        summary["sdlogj"] = sdlogj(jac, mask)
    if forward is not None and inverse is not None:
        summary["inverse_consistency_mm"] = inverse_consistency_mm(forward, inverse, affine, mask)
    return table, summary
