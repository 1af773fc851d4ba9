"""Does a change of the code keep the network's answer? One trained network's forward fields on the real-anatomy
test pairs, computed by two source trees (this one and e.g. a checkout from before the speed work), compared
field by field and by Dice.

    git worktree add /tmp/before 038f367
    python bench/same_answer.py --before /tmp/before/src --out bench/results/same_answer_cpu.json

Needs the model and grid that ``bench/real_labelmaps.py`` leaves in ``--workdir``. Each tree runs in its own
process (``PYTHONPATH``), on the raw network output (``model(moving, fixed)["forward"]``), so what changed later
around the network (inverse polishing, refinement) does not enter.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEST = [f"subject{k:02d}" for k in range(7, 11)]


def fields(workdir: Path, out: Path) -> None:
    """Child process: the forward field of every test pair, by the ``dccnnreg`` on ``PYTHONPATH``, into ``out``."""
    import torch
    from dccnnreg import checkpoint
    from dccnnreg.data import load_sample

    model = checkpoint.load_model(workdir / "dccnn_lstm" / "model.pt")
    image = lambda s: torch.as_tensor(load_sample(s, workdir / "grid" / f"{s}_brain.nii.gz").image, dtype=torch.float32)
    result = {}
    with torch.no_grad():
        for a, b in itertools.combinations(TEST, 2):
            result[f"{a}_{b}"] = model(image(a)[None, None], image(b)[None, None])["forward"][0].numpy()
    np.savez(out, **result)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", required=True, help="the other tree's src/ folder")
    p.add_argument("--workdir", default=str(ROOT / "bench" / "work" / "real_labelmaps"))
    p.add_argument("--out", required=True)
    p.add_argument("--fields", help=argparse.SUPPRESS)  # child mode: write the fields here
    a = p.parse_args()
    workdir = Path(a.workdir)
    if a.fields:
        return fields(workdir, Path(a.fields))

    from dccnnreg.data import load_sample
    from dccnnreg.metrics import dice_per_label
    from dccnnreg.transforms import apply_field
    from dccnnreg.synth import BRAIN_STRUCTURES

    trees = {"before": str(Path(a.before).resolve()), "now": str(ROOT / "src")}
    maps = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, src in trees.items():
            out = Path(tmp) / f"{name}.npz"
            env = {**os.environ, "PYTHONPATH": src}
            subprocess.run([sys.executable, __file__, "--before", a.before, "--workdir", a.workdir, "--out", a.out,
                            "--fields", str(out)], env=env, check=True)
            maps[name] = dict(np.load(out))
    sample = lambda s: load_sample(s, workdir / "grid" / f"{s}_brain.nii.gz", workdir / "grid" / f"{s}_labels.nii.gz")
    pairs = []
    for key in maps["now"]:
        moving, fixed = (sample(s) for s in key.split("_"))
        dice = {}
        for name in trees:
            warped = apply_field(None, moving.labels, maps[name][key], label_mode="generic")[1]
            dice[name] = float(np.mean(list(dice_per_label(fixed.labels, warped, BRAIN_STRUCTURES).values())))
        pairs.append({"pair": key, "max_field_difference_voxels": float(np.abs(maps["now"][key] - maps["before"][key]).max()),
                      "dice_before": dice["before"], "dice_now": dice["now"]})
        print(pairs[-1], flush=True)
    commit = lambda src: subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True,
                                        text=True).stdout.strip()
    summary = {"trees": {name: {"src": src, "commit": commit(src)} for name, src in trees.items()},
               "dice_before": float(np.mean([r["dice_before"] for r in pairs])),
               "dice_now": float(np.mean([r["dice_now"] for r in pairs])),
               "max_dice_difference": max(abs(r["dice_now"] - r["dice_before"]) for r in pairs),
               "max_field_difference_voxels": max(r["max_field_difference_voxels"] for r in pairs)}
    print(summary)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"summary": summary, "pairs": pairs}, indent=2))


if __name__ == "__main__":
    main()
