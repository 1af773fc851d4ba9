"""The affine stage and skull stripping on real head anatomy: raw T1-like heads, skull and all, from the real label maps.

    python bench/skull_strip_heads.py --out bench/results/skull_strip_heads_cpu.json

Each label map in ``../shared/data/real_labelmaps/`` (whole head, 1 mm, in its own scanner position) becomes a
raw head (:func:`dccnnreg.synth.write_labelmap_t1`) with one cohort contrast per ``--contrasts`` seed
(:func:`~dccnnreg.synth.head_contrast`: the template and every subject from one scanner, each tissue jittered
per head). The ``--atlas`` subject's head, true brain mask (the 31 scored structures and CSF) and labels are the
template, on the network grid (``--shape`` x ``--spacing`` mm, :func:`~dccnnreg.preprocess.make_atlas`). Every
other head goes through the workflow's own preprocessing: N4 and the ANTs affine of the head to the template head
(:func:`~dccnnreg.preprocess.affine_preprocess`), then template-based skull stripping on the grid
(:func:`~dccnnreg.preprocess.skull_strip`), once for each affine setting of ``--affine``: ``GC`` within the
template brain grown by 20 mm (the workflow's default) and ``mattes`` on the whole image (before it). Four of the
ten label maps end below the cerebellum; the template's goes down the neck. Scored against the truth carried to the
grid by the same affine: the estimated brain mask's Dice with the true one and its volume against the true volume;
the affine's own accuracy as the Dice of the subject's true mask with the template's and the 31 structures' mean
Dice with the template's labels after the affine alone; seconds of each stage. Heads and results are kept in ``--workdir``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from dccnnreg.metrics import dice_per_label
from dccnnreg.nifti import load_volume
from dccnnreg.preprocess import affine_preprocess, labels_to_grid, make_atlas, skull_strip
from dccnnreg.synth import BRAIN_STRUCTURES, head_contrast, write_labelmap_t1

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real_labelmaps"
SUBJECTS = [f"subject{k:02d}" for k in range(1, 11)]


AFFINE = {"GC_brain20mm": {"metric": "GC", "mask_margin_mm": 20.0}, "mattes_whole": {"metric": "mattes"}}


def subject_scores(s: str, heads: dict, atlas: dict, affine: str, work: Path) -> dict:
    """Preprocess subject ``s``'s raw head as the workflow does with the ``affine`` setting of :data:`AFFINE`
    (cached in ``work``) and score it."""
    o = {k: work / f"{s}_{k}.nii.gz" for k in ("image", "brain", "mask", "true_mask", "labels")}
    o["affine"] = work / f"{s}_affine.mat"
    times = work / f"{s}_seconds.json"
    if not times.exists():
        t0 = time.perf_counter()
        setting = AFFINE[affine]
        affine_preprocess(heads["head"], atlas["head"], o, n4=True, metric=setting["metric"],
                          mask_path=atlas["mask"], mask_margin_mm=setting.get("mask_margin_mm"))
        t1 = time.perf_counter()
        skull_strip(o["image"], atlas["head"], atlas["mask"], o)
        t2 = time.perf_counter()
        times.write_text(json.dumps({"affine_seconds": t1 - t0, "skull_strip_seconds": t2 - t1}))
        labels_to_grid(heads["mask"], heads["head"], atlas["head"], o["affine"], o["true_mask"])
        labels_to_grid(heads["labels"], heads["head"], atlas["head"], o["affine"], o["labels"])
    est, true, tpl_mask = (load_volume(p, labels=True).data > 0 for p in (o["mask"], o["true_mask"], atlas["mask"]))
    lab, tpl_lab = load_volume(o["labels"], labels=True).data, load_volume(atlas["labels"], labels=True).data
    return {"subject": s, "affine": affine, "mask_dice": dice_per_label(est, true, [True])[1],
            "mask_volume_ratio": float(est.sum() / max(true.sum(), 1)),
            "affine_mask_dice": dice_per_label(true, tpl_mask, [True])[1],
            "affine_structure_dice": float(np.mean(list(dice_per_label(lab, tpl_lab, BRAIN_STRUCTURES).values()))),
            **json.loads(times.read_text())}


def run_contrast(data: Path, work: Path, atlas_name: str, seed: int, shape, spacing: float, affines) -> list[dict]:
    """Heads of one cohort contrast (``seed``), the template on the grid, every other subject scored."""
    work.mkdir(parents=True, exist_ok=True)
    contrast = head_contrast(np.random.default_rng([seed, 1]))
    heads = {}
    for k, s in enumerate(SUBJECTS):
        heads[s] = {kind: work / f"{s}_native_{kind}.nii.gz" for kind in ("head", "mask", "labels")}
        if not heads[s]["labels"].exists():
            write_labelmap_t1(data / f"{s}_labels.nii.gz", [seed, 2, k], 1, heads[s], contrast)
    atlas = {k: work / f"atlas_{k}.nii.gz" for k in ("head", "brain", "mask", "labels")}
    if not atlas["labels"].exists():
        h = heads[atlas_name]
        make_atlas({"head": h["head"], "brain_mask": h["mask"], "labels": h["labels"]}, atlas, shape, spacing)
    rows = []
    for affine in affines:
        (work / affine).mkdir(exist_ok=True)
        for s in SUBJECTS:
            if s != atlas_name:
                rows.append({"contrast": seed, **subject_scores(s, heads[s], atlas, affine, work / affine)})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--atlas", default="subject01")
    p.add_argument("--contrasts", nargs="+", type=int, default=[0, 1], help="one cohort contrast per seed")
    p.add_argument("--affine", nargs="+", choices=sorted(AFFINE), default=list(AFFINE))
    p.add_argument("--shape", nargs=3, type=int, default=[56, 64, 64], help="network grid (template's L, I, A axes)")
    p.add_argument("--spacing", type=float, default=3.0)
    p.add_argument("--workdir", default=str(ROOT / "bench" / "work" / "skull_strip_heads"))
    p.add_argument("--out", required=True)
    a = p.parse_args()
    data = Path(a.data)
    if not (data / f"{a.atlas}_labels.nii.gz").exists():
        raise SystemExit(f"real label maps not found in {data} (see shared/data/real_labelmaps/README.md)")
    rows = [r for seed in a.contrasts
            for r in run_contrast(data, Path(a.workdir) / f"contrast{seed}", a.atlas, seed, a.shape, a.spacing, a.affine)]
    keys = ("mask_dice", "mask_volume_ratio", "affine_mask_dice", "affine_structure_dice", "affine_seconds",
            "skull_strip_seconds")
    summary = {affine: {k: {f: float(f_of([r[k] for r in rows if r["affine"] == affine]))
                            for f, f_of in (("mean", np.mean), ("min", np.min), ("max", np.max))} for k in keys}
               for affine in a.affine}
    result = {"device": f"cpu ({platform.machine()}), {os.cpu_count()} cores (ANTs' threads: all of them)",
              "settings": {k: v for k, v in vars(a).items() if k not in ("out", "data")},
              "summary": summary, "subjects": rows}
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
