"""How far each answer on the known warps is shrunk, and at which scale it errs.

    python bench/known_warp_shrinkage.py --workdir <bench/real_brain.py's workdir> --pairs 2 \
        --out bench/results/known_warp_shrinkage_cpu.json
    python bench/known_warp_shrinkage.py ... --refine-detail-sigma 2 --refine-smooth-factor 16 --no-syn --out ...

On the first ``--pairs`` known-warp test pairs of ``bench/real_brain.py`` (3 mm, seed 0), for the network's
forward field, the refined one (``--refine-*``) and SyN ``full``'s (unless ``--no-syn``): the end-point error in the
brain (mm), split into its smooth part (the error field smoothed by a Gaussian of 3 voxels) and the rest, and the
least-squares slope of the answer against the true displacement (1: no shrinkage; below 1: displacements come out
too short, as a smoothness penalty on the whole field pulls them). Where it errs: the EPE on the scored structures'
boundaries (voxels with a differently labelled face neighbour) and inside them, and within one voxel of the
structures under ``SMALL_VOXELS`` voxels, beside the Dice of those small structures and of the others (warped
labels, as ``bench/real_brain.py`` scores them). For reference, ``random_error``: the true field plus
``--random-draws`` Gaussian-smoothed random error fields per pair, each scaled to ``--random-epe-mm`` in the brain: the
Dice that an EPE of that size gives when the error falls anywhere.
"""

from __future__ import annotations

import argparse
import json

import nibabel as nib
import numpy as np
import torch
from dccnnreg.data import Sample
from dccnnreg.register import register_pair
from dccnnreg.syn import register_syn
from dccnnreg.transforms import apply_field, at_grid_points
from dccnnreg.world import displacement_mm
from known_warp_similarity import network_and_refinement, write_result
from refine_prior import known_warp_pairs
from scipy import ndimage

CPU = torch.device("cpu")
SMOOTH_VOXELS = 3.0
SMALL_VOXELS = 100
RANDOM_SIGMA_VOXELS = 2.0  # random error fields' smoothness (1 voxel gave the same Dice to 0.001 in a scratch run)


def boundaries(labels: np.ndarray) -> np.ndarray:
    """Bool ``labels.shape``: voxels with a face neighbour of another label (the grid wraps: its faces are background)."""
    return np.any([labels != np.roll(labels, s, axis=ax) for ax in range(3) for s in (1, -1)], axis=0)


def random_error(true_forward: np.ndarray, mask: np.ndarray, epe_voxels: float, rng: np.random.Generator) -> np.ndarray:
    """``true_forward`` ``(3, X, Y, Z)`` plus white noise smoothed by a Gaussian of ``RANDOM_SIGMA_VOXELS``, scaled to a
    mean length of ``epe_voxels`` in ``mask``."""
    e = np.stack([ndimage.gaussian_filter(rng.normal(size=true_forward.shape[1:]), RANDOM_SIGMA_VOXELS) for _ in range(3)])
    return true_forward + e * (epe_voxels / np.linalg.norm(e[:, mask], axis=0).mean())


def scores(forward: np.ndarray, warped_labels: np.ndarray, true_forward: np.ndarray, fixed: Sample, mask: np.ndarray,
           scored: list[int]) -> dict[str, float]:
    """EPE (mm) of the voxel field ``forward`` against ``true_forward`` (``(3, X, Y, Z)``) in ``mask``: whole, its
    smooth and fine parts, on the ``scored`` structures' boundaries and inside them, and near the small ones; the slope
    of the answer on ``true_forward`` (in mm); the mean Dice of ``warped_labels`` over the small and the other
    structures."""
    affine, labels = fixed.affine, fixed.labels
    u = np.asarray(at_grid_points(forward, true_forward.shape[1:]), np.float64)
    err = u - true_forward
    smooth = np.stack([ndimage.gaussian_filter(c, SMOOTH_VOXELS) for c in err])
    norm = lambda f, where=mask: displacement_mm(f, affine)[where]
    est, true = (np.moveaxis(f, 0, -1)[mask] @ affine[:3, :3].T for f in (u, true_forward))
    size = {k: int((labels == k).sum()) for k in scored}
    small = [k for k in scored if 0 < size[k] < SMALL_VOXELS]
    structures = np.isin(labels, scored)
    edge = boundaries(np.where(structures, labels, 0))
    near_small = ndimage.binary_dilation(np.isin(labels, small)) & mask
    dice = {k: 2 * ((labels == k) & (warped_labels == k)).sum() / (size[k] + (warped_labels == k).sum())
            for k in scored if size[k]}
    return {"epe_mean_mm": float(norm(err).mean()), "epe_smooth_mm": float(norm(smooth).mean()),
            "epe_fine_mm": float(norm(err - smooth).mean()), "slope": float((est * true).sum() / (true * true).sum()),
            "epe_boundary_mm": float(norm(err, mask & structures & edge).mean()),
            "epe_inside_mm": float(norm(err, mask & structures & ~edge).mean()),
            "epe_near_small_mm": float(norm(err, near_small).mean()),
            "dice_small": float(np.mean([dice[k] for k in small])),
            "dice_others": float(np.mean([d for k, d in dice.items() if k not in small]))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=4)
    p.add_argument("--train-pairs", type=int, default=8, help="the workdir's bench/real_brain.py --train-pairs (which "
                   "test copies it drew)")
    p.add_argument("--no-syn", action="store_true")
    p.add_argument("--random-draws", type=int, default=8, help="random error fields per pair (0: none)")
    p.add_argument("--random-epe-mm", type=float, default=0.55, help="their mean length in the brain")
    a, model, refinement = network_and_refinement(p)
    rows, rng = [], np.random.default_rng(0)
    for pair, (moving, fixed, mask, scored, true_forward) in enumerate(known_warp_pairs(a.train_pairs)[:a.pairs]):
        methods = {"dccnn_lstm": lambda: register_pair(model, moving, fixed, CPU),
                   "dccnn_lstm+refine": lambda: register_pair(model, moving, fixed, CPU, refinement=refinement)}
        if not a.no_syn:
            methods["syn"] = lambda: register_syn(moving, fixed, "full")
        for method, registration in methods.items():
            reg = registration()
            rows.append({"pair": pair, "method": method,
                         **scores(reg.forward, reg.warped_labels, true_forward, fixed, mask, scored)})
            print(json.dumps(rows[-1]), flush=True)
        spacing = float(np.mean(nib.affines.voxel_sizes(fixed.affine)))
        for _ in range(a.random_draws):
            u = random_error(true_forward, mask, a.random_epe_mm / spacing, rng)
            warped = apply_field(None, moving.labels, u, label_mode="generic")[1]
            rows.append({"pair": pair, "method": "random_error", **scores(u, warped, true_forward, fixed, mask, scored)})
    keys = [k for k in rows[0] if k not in ("pair", "method")]
    summary = [{"method": m, **{k: float(np.mean([r[k] for r in rows if r["method"] == m])) for k in keys}}
               for m in dict.fromkeys(r["method"] for r in rows)]
    write_result(a, summary, rows)


if __name__ == "__main__":
    main()
