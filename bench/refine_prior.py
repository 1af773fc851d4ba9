"""Which smoothness prior refinement should have: smooth known warps against real inter-subject anatomy.

    python bench/refine_prior.py --known-warps <real_brain.py workdir> --inter-subject <real_labelmaps.py workdir> \
        --out bench/results/refine_prior_cpu.json

The known-warp pairs of ``bench/real_brain.py`` (its default split: 3 mm, seed 0) are the real scan deformed by
Gaussian-smoothed random velocities; SyN, whose regulariser is a Gaussian too, recovers them with a smaller
end-point error than refinement. This adds the half-maps' bending energy (mean squared second differences: zero
for affine maps, it penalises sharp bends far more than the diffusion term and long smooth displacements not at
all) to refinement's objective, with each weight of ``--bending`` (0: the objective as shipped), and scores
``dccnn_lstm+refine`` on both studies with the networks trained in the workdirs: Dice (and EPE on known warps),
inverse consistency, folding, seconds. Whether a prior that suits the generator of the known warps also suits
real anatomy is the question.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch
from dccnnreg import refine as refinement_module
from dccnnreg.cli import refine_arguments, refine_config
from dccnnreg.data import load_sample
from dccnnreg.device import describe
from dccnnreg.evaluate import evaluate_pair
from dccnnreg.known_warps import endpoint_error_mm
from dccnnreg.losses import middle_loss
from dccnnreg.nifti import load_volume
from dccnnreg.register import register_pair
from dccnnreg.synth import BRAIN_STRUCTURES
from real_brain import DATA, known_warp_study, parsed
from real_labelmaps import TEST, trained_network

SHIPPED = refinement_module.objective


def bending_energy(u: torch.Tensor) -> torch.Tensor:
    """Mean squared second differences of a field ``(B, 3, D, H, W)`` (voxel units), each mixed one counted twice."""
    total = 0.0
    for a, b in itertools.combinations_with_replacement((2, 3, 4), 2):
        total = total + (1 if a == b else 2) * (torch.diff(torch.diff(u, dim=a), dim=b) ** 2).mean()
    return total / 9.0


def with_bending(weight: float):
    """Refinement's objective plus ``weight`` times the mean bending energy of the two moved half-maps."""
    def objective(half, w, moving, fixed, weights, config):
        paths = refinement_module.moved_paths(half, refinement_module.increments(w, config, tuple(moving.shape[2:])),
                                              inverses=False)
        bend = 0.5 * (bending_energy(paths["psi_m"]) + bending_energy(paths["psi_f"]))
        return middle_loss(paths, moving, fixed, weights)[0] + weight * bend
    return objective if weight else SHIPPED


def known_warp_pairs(train_pairs: int = 8) -> list[tuple]:
    """``bench/real_brain.py``'s test pairs (after ``train_pairs`` training copies were drawn, its ``--train-pairs``):
    (moving, fixed, brain mask, scored labels, true forward field)."""
    scan, eval_labels, _, test = known_warp_study(DATA, 3.0, train_pairs, 4, 15.0, 0)
    return [(pair.moving, scan, scan.labels > 0, eval_labels, pair.true_forward) for pair in test]


def inter_subject_pairs(workdir: Path, subjects: list[str]) -> list[tuple]:
    """Every pair of ``bench/real_labelmaps.py``'s test ``subjects``, as :func:`known_warp_pairs` (no true field)."""
    grid = workdir / "grid"
    sample = lambda s: load_sample(s, grid / f"{s}_brain.nii.gz", grid / f"{s}_labels.nii.gz")
    return [(sample(mov), sample(fix), load_volume(grid / f"{fix}_mask.nii.gz", labels=True).data > 0, BRAIN_STRUCTURES,
             None) for mov, fix in itertools.combinations(subjects, 2)]


def scored(model, pairs: list[tuple], refinement) -> list[dict]:
    """``dccnn_lstm+refine`` on ``pairs``: Dice, IC, folding, seconds per pair, EPE where the true field is known."""
    rows = []
    for moving, fixed, mask, labels, true_forward in pairs:
        reg = register_pair(model, moving, fixed, torch.device("cpu"), refinement=refinement)
        _, s = evaluate_pair(fixed.labels, reg.warped_labels, fixed.affine, reg.forward, reg.inverse, mask, labels)
        epe = {} if true_forward is None else endpoint_error_mm(reg.forward, true_forward, fixed.affine, mask)
        rows.append({**s, **epe, "seconds": reg.seconds + reg.refine_seconds})
    return rows


def summary(rows: list[dict]) -> dict:
    keys = ("dice_mean", "epe_mean_mm", "inverse_consistency_mm", "folding_pct", "seconds")
    return {k: float(np.mean([r[k] for r in rows])) for k in keys if k in rows[0]} | {
        "inverse_consistency_mm_max": float(np.max([r["inverse_consistency_mm"] for r in rows])),
        "folding_pct_max": float(np.max([r["folding_pct"] for r in rows]))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--known-warps", required=True, help="bench/real_brain.py's workdir (trained network)")
    p.add_argument("--inter-subject", required=True, help="bench/real_labelmaps.py's workdir (trained network)")
    p.add_argument("--test", nargs="+", default=TEST)
    p.add_argument("--bending", nargs="+", type=float, default=[0.0, 8.0, 16.0])
    p.add_argument("--threads", type=int)
    p.add_argument("--out", required=True)
    refine_arguments(p, steps=20)
    a = parsed(p)
    config, rows = refine_config(a), []
    inter = Path(a.inter_subject)
    studies = {"known_warps": (*trained_network(Path(a.known_warps)), known_warp_pairs()),
               "inter_subject": (*trained_network(inter), inter_subject_pairs(inter, a.test))}
    for weight in a.bending:
        refinement_module.objective = with_bending(weight)  # refine() looks its objective up at each step
        for study, (model, weights, pairs) in studies.items():
            rows.append({"study": study, "bending": weight, **summary(scored(model, pairs, (config, weights)))})
            print(json.dumps(rows[-1]), flush=True)
    refinement_module.objective = SHIPPED
    result = {"device": describe(torch.device("cpu")),
              "settings": {k: v for k, v in vars(a).items() if k != "out"}, "summary": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
