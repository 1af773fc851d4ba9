"""Where the inverse-consistency error of DCCNN-LSTM-Reg's maps comes from: the grid they are composed on.

    python bench/ic_resolution.py --workdir <bench/real_labelmaps.py's workdir> --out bench/results/ic_resolution_cpu.json

For each real-anatomy test pair (the network ``bench/real_labelmaps.py`` trained and left in ``--workdir``), the
same half-maps (the network's, and refined with ``--refine-*``) are turned into full maps twice: on the network
grid, as the workflow exports them, and after upsampling the half-maps to a grid twice as fine (``2n - 1`` points
over the same extent). Both pairs of maps are scored alike: mean length in mm of ``phi o phi^-1 - id`` in the fixed
brain. If the maps disagreed, the finer grid could not help; if the error is trilinear interpolation of sharply
bending fields, it falls about fourfold (with the grid spacing squared).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from dccnnreg.cli import refine_arguments, refine_config
from dccnnreg.data import image_tensor
from dccnnreg.device import describe
from dccnnreg.model import HALF_MAPS, polish_inverses
from dccnnreg.nifti import load_volume
from dccnnreg.refine import refine
from dccnnreg.metrics import inverse_consistency_mm
from dccnnreg.transforms import resize_field
from real_brain import parsed
from real_labelmaps import TEST, trained_network


def ic_mm(half: dict[str, torch.Tensor], mask: np.ndarray, affine: np.ndarray) -> float:
    """:func:`~dccnnreg.metrics.inverse_consistency_mm` in ``mask`` of the full maps of ``half`` composed on its own
    grid ``affine``."""
    maps = polish_inverses(half)
    return inverse_consistency_mm(maps["forward"][0].numpy(), maps["inverse"][0].numpy(), affine, mask)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", required=True)
    p.add_argument("--test", nargs="+", default=TEST)
    p.add_argument("--threads", type=int)
    p.add_argument("--out", required=True)
    refine_arguments(p, steps=20)
    a = parsed(p)
    work = Path(a.workdir)
    (model, weights), config = trained_network(work), refine_config(a)
    grid = lambda s, kind: load_volume(work / "grid" / f"{s}_{kind}.nii.gz", labels=kind == "mask")
    rows = []
    for mov, fix in itertools.combinations(a.test, 2):
        m, f = (image_tensor(grid(s, "brain").data, "cpu") for s in (mov, fix))
        affine = grid(fix, "brain").affine
        fine_affine = affine @ np.diag([0.5, 0.5, 0.5, 1.0])  # 2n - 1 points over the same extent
        spacing = float(np.sqrt((affine[:3, :3] ** 2).sum(0)).mean())
        mask = torch.as_tensor(grid(fix, "mask").data > 0, dtype=torch.float32)
        fine_shape = tuple(2 * n - 1 for n in m.shape[2:])
        fine_mask = F.interpolate(mask[None, None], size=fine_shape, mode="trilinear", align_corners=True)[0, 0] > 0.5
        with torch.no_grad():
            out = model(m, f)
        network = {k: out[k].float() for k in HALF_MAPS}
        for name, half in (("network", network), ("refined", refine(network, m, f, weights, config)[0])):
            with torch.no_grad():
                row = {"moving": mov, "fixed": fix, "maps": name,
                       "ic_mm_network_grid": ic_mm({k: half[k] for k in HALF_MAPS}, mask.numpy() > 0, affine),
                       "ic_mm_twice_finer": ic_mm({k: resize_field(half[k], fine_shape) for k in HALF_MAPS},
                                                  fine_mask.numpy(), fine_affine)}
            rows.append(row)
            print(f"{mov} -> {fix} {name:8s} IC {row['ic_mm_network_grid']:.3f} mm on the {spacing:g} mm grid, "
                  f"{row['ic_mm_twice_finer']:.3f} mm at {spacing / 2:g} mm", flush=True)
    summary = {name: {k: {"mean": float(np.mean([r[k] for r in rows if r["maps"] == name])),
                          "max": float(np.max([r[k] for r in rows if r["maps"] == name]))}
                      for k in ("ic_mm_network_grid", "ic_mm_twice_finer")} for name in ("network", "refined")}
    result = {"device": describe(torch.device("cpu")),
              "settings": {k: v for k, v in vars(a).items() if k not in ("workdir", "out")},
              "summary": summary, "pairs": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
