"""How far each answer on the known warps is shrunk, and at which scale it errs.

    python bench/known_warp_shrinkage.py --workdir <bench/real_brain.py's workdir> --pairs 2 \
        --out bench/results/known_warp_shrinkage_cpu.json
    python bench/known_warp_shrinkage.py ... --refine-detail-sigma 2 --refine-smooth-factor 16 --no-syn --out ...

On the first ``--pairs`` known-warp test pairs of ``bench/real_brain.py`` (3 mm, seed 0), for the network's
forward field, the refined one (``--refine-*``) and SyN ``full``'s (unless ``--no-syn``): the end-point error in the
brain (mm), split into its smooth part (the error field smoothed by a Gaussian of 3 voxels) and the rest, and the
least-squares slope of the answer against the true displacement (1: no shrinkage; below 1: displacements come out
too short, as a smoothness penalty on the whole field pulls them).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from dccnnreg.register import register_pair
from dccnnreg.syn import register_syn
from dccnnreg.transforms import at_grid_points
from dccnnreg.world import displacement_mm
from known_warp_similarity import network_and_refinement, write_result
from refine_prior import known_warp_pairs
from scipy import ndimage

CPU = torch.device("cpu")
SMOOTH_VOXELS = 3.0


def scores(u: np.ndarray, true_forward: np.ndarray, affine: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """EPE (mm) of the voxel field ``u`` against ``true_forward`` (both ``(3, X, Y, Z)``) in ``mask``, its smooth and
    its fine part, and the slope of ``u`` on ``true_forward`` (in mm)."""
    u = np.asarray(at_grid_points(u, true_forward.shape[1:]), np.float64)
    err = u - true_forward
    smooth = np.stack([ndimage.gaussian_filter(c, SMOOTH_VOXELS) for c in err])
    norm = lambda f: displacement_mm(f, affine)[mask]
    est, true = (np.moveaxis(f, 0, -1)[mask] @ affine[:3, :3].T for f in (u, true_forward))
    return {"epe_mean_mm": float(norm(err).mean()), "epe_smooth_mm": float(norm(smooth).mean()),
            "epe_fine_mm": float(norm(err - smooth).mean()), "slope": float((est * true).sum() / (true * true).sum())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=4)
    p.add_argument("--no-syn", action="store_true")
    a, model, refinement = network_and_refinement(p)
    rows = []
    for pair, (moving, fixed, mask, _, true_forward) in enumerate(known_warp_pairs()[:a.pairs]):
        fields = {"dccnn_lstm": lambda: register_pair(model, moving, fixed, CPU).forward,
                  "dccnn_lstm+refine": lambda: register_pair(model, moving, fixed, CPU, refinement=refinement).forward}
        if not a.no_syn:
            fields["syn"] = lambda: register_syn(moving, fixed, "full").forward
        for method, field in fields.items():
            rows.append({"pair": pair, "method": method, **scores(field(), true_forward, fixed.affine, mask)})
            print(json.dumps(rows[-1]), flush=True)
    keys = ("epe_mean_mm", "epe_smooth_mm", "epe_fine_mm", "slope")
    summary = [{"method": m, **{k: float(np.mean([r[k] for r in rows if r["method"] == m])) for k in keys}}
               for m in dict.fromkeys(r["method"] for r in rows)]
    write_result(a, summary, rows)


if __name__ == "__main__":
    main()
