"""Why refinement stops short of SyN on known warps: the similarity's best map is not the true one.

    python bench/known_warp_similarity.py --workdir <bench/real_brain.py's workdir> \
        --out bench/results/known_warp_similarity_cpu.json

On each known-warp test pair of ``bench/real_brain.py`` (its default split: 3 mm, seed 0) the moving image is
warped onto the scan by four forward fields: the true one, the network's (trained in ``--workdir``), the refined
one (``--refine-*``) and SyN ``full``'s. Each warped image is scored against the scan by the objective's similarity
(local NCC with the network's training window, as a loss: lower is more similar) and by the mean squared
difference; the NCC also for the clean moving image (the scan resampled through the true map, without the bias
field and noise, ``ncc_loss_clean``), beside the field's end-point error and its diffusion energy (mean squared forward difference, voxels).
If the true field scored best, a better optimiser of the similarity would close the gap; where the estimates score
better than the truth, the similarity's optimum lies off the true map (the moving image is the scan resampled,
biased and noisy) and the smoothness prior decides how close an answer comes: SyN's Gaussian prior is the one the
known warps were generated with (``bench/refine_prior.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from dccnnreg.cli import refine_arguments, refine_config
from dccnnreg.data import image_tensor
from dccnnreg.device import describe
from dccnnreg.known_warps import endpoint_error_mm
from dccnnreg.losses import diffusion, local_ncc, mse
from dccnnreg.register import register_pair
from dccnnreg.syn import register_syn
from dccnnreg.transforms import warp
from real_brain import grid_inverse, parsed
from refine_prior import known_warp_pairs
from real_labelmaps import trained_network

CPU = torch.device("cpu")


def clean_moving(fixed: torch.Tensor, true_forward: np.ndarray) -> torch.Tensor:
    """The scan ``fixed`` ``(1, 1, X, Y, Z)`` resampled through the map that ``true_forward`` undoes (its grid
    inverse), without bias field or noise."""
    return warp(fixed, grid_inverse(true_forward).float())


def field_scores(u: np.ndarray, moving: torch.Tensor, clean: torch.Tensor, fixed: torch.Tensor, window: int
                 ) -> dict[str, float]:
    """Similarity to ``fixed`` of ``moving`` and of ``clean`` warped by the field ``u`` ``(3, X, Y, Z)`` (images
    ``(1, 1, X, Y, Z)``), and the field's diffusion energy."""
    ut = torch.as_tensor(np.asarray(u), dtype=torch.float32)[None]
    warped = warp(moving, ut)
    return {"ncc_loss": float(local_ncc(warped, fixed, window)), "mse": float(mse(warped, fixed)),
            "ncc_loss_clean": float(local_ncc(warp(clean, ut), fixed, window)), "diffusion": float(diffusion(ut))}


def network_and_refinement(p: argparse.ArgumentParser) -> tuple[argparse.Namespace, torch.nn.Module, tuple]:
    """``p`` with ``--workdir`` (``bench/real_brain.py``'s, trained network), ``--threads``, ``--out`` and the
    ``--refine-*`` options (16 steps) added, parsed: the arguments, the network and its ``refinement``."""
    p.add_argument("--workdir", required=True, help="bench/real_brain.py's workdir (trained network)")
    p.add_argument("--threads", type=int)
    p.add_argument("--out", required=True)
    refine_arguments(p, steps=16)
    a = parsed(p)
    model, weights = trained_network(Path(a.workdir))
    return a, model, (refine_config(a), weights)


def write_result(a: argparse.Namespace, summary: list[dict], rows: list[dict]) -> None:
    """The JSON at ``a.out``: device, settings (``a`` but ``out``), ``summary`` and the per-pair ``rows``."""
    result = {"device": describe(torch.device("cpu")),
              "settings": {k: v for k, v in vars(a).items() if k != "out"}, "summary": summary, "pairs": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))


def main() -> None:
    a, model, refinement = network_and_refinement(
        argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))
    rows = []
    for pair, (moving, fixed, mask, _, true_forward) in enumerate(known_warp_pairs()):
        m, f = image_tensor(moving.image, CPU), image_tensor(fixed.image, CPU)
        clean = clean_moving(f, true_forward)
        fields = {"true": true_forward, "dccnn_lstm": register_pair(model, moving, fixed, CPU).forward,
                  "dccnn_lstm+refine": register_pair(model, moving, fixed, CPU, refinement=refinement).forward,
                  "syn": register_syn(moving, fixed, "full").forward}
        for method, u in fields.items():
            rows.append({"pair": pair, "method": method, **field_scores(u, m, clean, f, refinement[1].ncc_window),
                         "epe_mean_mm": endpoint_error_mm(u, true_forward, fixed.affine, mask)["epe_mean_mm"]})
            print(json.dumps(rows[-1]), flush=True)
    keys = ("ncc_loss", "mse", "ncc_loss_clean", "diffusion", "epe_mean_mm")
    true_loss = {r["pair"]: r["ncc_loss"] for r in rows if r["method"] == "true"}
    summary = [{"method": method, **{k: float(np.mean([r[k] for r in rows if r["method"] == method])) for k in keys},
                "pairs_more_similar_than_true": sum(r["ncc_loss"] < true_loss[r["pair"]]
                                                    for r in rows if r["method"] == method)}
               for method in fields]
    write_result(a, summary, rows)


if __name__ == "__main__":
    main()
