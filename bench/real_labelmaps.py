"""Inter-subject registration on real anatomy: T1-like heads made from the real label maps of ten people.

    python bench/real_labelmaps.py --out bench/results/real_labelmaps_cpu.json

Each label map in ``../shared/data/real_labelmaps/`` (whole head, 1 mm, each in its own scanner position)
becomes a T1-like head (:func:`dccnnreg.synth.t1_from_labels`). The first ``--atlas`` subject is the
template (its head, true brain mask and labels on the network grid, :func:`~dccnnreg.preprocess.make_atlas`).
Every other subject goes through the project's own affine stage (N4, ANTs affine,
:func:`~dccnnreg.preprocess.affine_preprocess`) as skull-stripped data: its brain (the true mask: the 31
scored structures and CSF) at 2 mm onto the template's brain; its 1 mm labels and mask follow with
generic-label interpolation. (Heads with skull do not work here: the label maps' extra-cerebral tissues get
random intensities per subject, and the whole-head affine missed by up to 1.7x in brain volume on 4 of 9.)
The learned methods train on ``--train`` subjects paired with each other and with the template (validation
Dice on ``--val`` every ``--val-every`` steps: the learning curves, kept in the JSON); every method then
registers each pair of ``--test`` subjects (inter-subject, moving before fixed in the list order), scored on
the 31 brain structures: Dice, HD95, % non-positive Jacobian, SDlogJ, inverse consistency, seconds per pair
(refinement apart). ``dccnn_lstm+refine`` is DCCNN-LSTM-Reg with instance optimisation (``--refine-*``).
Prepared images and trained models are kept in ``--workdir``; a rerun resumes.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import ants
import nibabel as nib
import numpy as np
import pandas as pd
from dccnnreg import checkpoint, networks
from dccnnreg.config import load_config, method_settings
from dccnnreg.data import load_sample
from dccnnreg.device import describe, pick_device
from dccnnreg.evaluate import evaluate_pair
from dccnnreg.nifti import load_volume, save_volume
from dccnnreg.preprocess import affine_preprocess, labels_to_grid, make_atlas, normalize_intensity
from dccnnreg.synth import BRAIN_STRUCTURES, CSF, t1_from_labels
from dccnnreg.syn import register_syn
from dccnnreg.world import to_ants
from real_brain import learned_methods, method_arguments, parsed, run_arguments

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real_labelmaps"
TEST = [f"subject{k:02d}" for k in range(7, 11)]  # the test split, also of the scripts reusing the trained networks


def prepare(data: Path, work: Path, atlas: str, subjects: list[str], shape, spacing: float, seed: int) -> dict[str, dict]:
    """Heads, true brain masks and the template on the grid; each subject's brain, mask and labels on it."""
    heads, grid = work / "heads", work / "grid"
    heads.mkdir(parents=True, exist_ok=True)
    grid.mkdir(parents=True, exist_ok=True)
    files = {}
    for k, s in enumerate([atlas, *subjects]):
        f = {"labels": data / f"{s}_labels.nii.gz", "head": heads / f"{s}_T1w.nii.gz", "mask": heads / f"{s}_brainmask.nii.gz",
             "brain_2mm": heads / f"{s}_res-2_desc-brain_T1w.nii.gz"}
        if not f["brain_2mm"].exists():
            lab = load_volume(f["labels"], labels=True)
            mask = np.isin(lab.data, (*BRAIN_STRUCTURES, CSF))
            head = t1_from_labels(lab.data, np.random.default_rng([seed, k]))
            save_volume(mask.astype(np.uint8), lab.affine, f["mask"], np.uint8)
            save_volume(head, lab.affine, f["head"], np.float32)
            brain = ants.resample_image(to_ants(head * mask, lab.affine), (2.0,) * 3, interp_type=0)
            ants.image_write(brain, str(f["brain_2mm"]))
        files[s] = f
    tpl = {k: grid / f"atlas_{k}.nii.gz" for k in ("head", "brain", "mask", "labels")}
    if not tpl["labels"].exists():
        make_atlas({"head": files[atlas]["head"], "brain_mask": files[atlas]["mask"], "labels": files[atlas]["labels"]},
                   tpl, shape, spacing)
    out = {"atlas": {"brain": tpl["brain"], "labels": tpl["labels"], "mask": tpl["mask"]}}
    for s in subjects:
        o = {k: grid / f"{s}_{k}.nii.gz" for k in ("image", "brain", "mask", "labels")}
        o["affine"] = grid / f"{s}_affine.mat"
        if not o["brain"].exists():
            affine_preprocess(files[s]["brain_2mm"], tpl["brain"], o, n4=True, metric="mattes")  # .mat: world space
            labels_to_grid(files[s]["labels"], files[s]["head"], tpl["head"], o["affine"], o["labels"])
            labels_to_grid(files[s]["mask"], files[s]["head"], tpl["head"], o["affine"], o["mask"])
            img, mask = load_volume(o["image"]), load_volume(o["mask"], labels=True)
            save_volume(normalize_intensity(img.data * (mask.data > 0)), img.affine, o["brain"], np.float32)
        out[s] = o
    return out


def trained_network(workdir: Path):
    """The DCCNN-LSTM-Reg a benchmark trained in ``workdir`` (this script, ``bench/real_brain.py``) and the loss
    weights it was trained with."""
    path = workdir / "dccnn_lstm" / "model.pt"
    if not path.exists():
        raise SystemExit(f"no trained network in {workdir}: run the benchmark that trains it with --workdir {workdir}")
    return checkpoint.load_model(path), checkpoint.training_loss(path)


def learning_curve(metrics_tsv: Path) -> list[dict]:
    """Loss and validation Dice at each validated step of a training run."""
    m = pd.read_csv(metrics_tsv, sep="\t")
    m["loss_avg"] = m["loss"].rolling(25, min_periods=1).mean()
    val = m.dropna(subset=["val_dice"])
    return [{"step": int(r.step), "loss_avg25": float(r.loss_avg), "val_dice": float(r.val_dice)} for r in val.itertuples()]


def study_arguments(p: argparse.ArgumentParser) -> None:
    """The data, split, grid and run options shared with ``bench/learning_curves.py``."""
    run_arguments(p, DATA, "real_labelmaps")
    p.add_argument("--atlas", default="subject01")
    p.add_argument("--train", nargs="+", default=[f"subject{k:02d}" for k in range(2, 6)])
    p.add_argument("--val", nargs="+", default=["subject06"])
    p.add_argument("--test", nargs="+", default=TEST)
    p.add_argument("--shape", nargs=3, type=int, default=[56, 64, 64], help="network grid (template's L, I, A axes)")
    p.add_argument("--spacing", type=float, default=3.0)
    p.add_argument("--val-every", type=int, default=50)


def prepared_study(a: argparse.Namespace) -> dict[str, dict]:
    """Check the data and :func:`prepare` the study of the :func:`study_arguments` (parsed by
    :func:`~real_brain.parsed`)."""
    data = Path(a.data)
    if not (data / f"{a.atlas}_labels.nii.gz").exists():
        raise SystemExit(f"real label maps not found in {data} (see shared/data/real_labelmaps/README.md)")
    return prepare(data, Path(a.workdir), a.atlas, a.train + a.val + a.test, a.shape, a.spacing, a.seed)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    study_arguments(p)
    method_arguments(p, ["affine", "syn", "voxelmorph", "dccnn_lstm", "dccnn_lstm+refine"], 20, field_subdivision=1)
    a = parsed(p)
    files, work = prepared_study(a), Path(a.workdir)
    sample = lambda s: load_sample(s, files[s]["brain"], files[s]["labels"])
    atlas = sample("atlas")
    spacing = float(nib.affines.voxel_sizes(atlas.affine).max())
    device = pick_device(a.device)
    cfg = load_config(*a.config)

    register = {"affine": None, "syn": lambda m, f: register_syn(m, f, a.syn_preset, a.seed),
                **learned_methods(a, cfg, [sample(s) for s in a.train], device, spacing, a.val_every, atlas=atlas,
                                  val_set=[sample(s) for s in a.val])}
    curves = {m: learning_curve(work / m / "metrics.tsv") for m in register if m in networks.METHODS}

    rows = []
    for mov_name, fix_name in itertools.combinations(a.test, 2):
        moving, fixed = sample(mov_name), sample(fix_name)
        mask = load_volume(files[fix_name]["mask"], labels=True).data > 0
        for method in a.methods:
            reg = register[method](moving, fixed) if register[method] else None
            _, summary = evaluate_pair(fixed.labels, reg.warped_labels if reg else moving.labels, fixed.affine,
                                       reg.forward if reg else None, reg.inverse if reg else None, mask, BRAIN_STRUCTURES)
            rows.append({"moving": mov_name, "fixed": fix_name, "method": method, **summary,
                         "seconds": reg.seconds if reg else 0.0, "refine_seconds": reg.refine_seconds if reg else 0.0})
            print(f"{mov_name} -> {fix_name} {method:18s} Dice {summary['dice_mean']:.3f} HD95 {summary['hd95_mean_mm']:.2f} "
                  f"folding {summary['folding_pct']:.4f}% IC {summary['inverse_consistency_mm']:.3f} mm "
                  f"{rows[-1]['seconds'] + rows[-1]['refine_seconds']:.1f} s", flush=True)
    df = pd.DataFrame(rows)
    df["total_seconds"] = df["seconds"] + df["refine_seconds"]
    table = df.groupby("method", sort=False).agg(
        dice_mean=("dice_mean", "mean"), dice_sd=("dice_mean", "std"), hd95_mean_mm=("hd95_mean_mm", "mean"),
        folding_pct_max=("folding_pct", "max"), sdlogj=("sdlogj", "mean"),
        inverse_consistency_mm=("inverse_consistency_mm", "mean"),
        inverse_consistency_mm_max=("inverse_consistency_mm", "max"),
        seconds=("seconds", "mean"), refine_seconds=("refine_seconds", "mean"), total_seconds=("total_seconds", "mean"))
    print(table.to_string(float_format=lambda x: f"{x:.4g}"))
    result = {
        "device": describe(device),
        "settings": {k: v for k, v in vars(a).items() if k not in ("data", "workdir", "out")},
        "model": {m: method_settings(m, cfg) for m in curves},
        "grid": list(atlas.image.shape),
        "summary": table.reset_index().to_dict("records"),
        "learning_curves": curves,
        "pairs": rows,
    }
    if "syn" in table.index:
        syn = table.loc["syn"]
        result["targets"] = {m: {
            "dice_minus_syn": float(r.dice_mean - syn.dice_mean),
            "no_folding_any_pair": bool(r.folding_pct_max == 0),
            "inverse_consistency_below_0.1mm_every_pair": bool(r.inverse_consistency_mm_max < 0.1),
            "time_fraction_of_syn": float(r.total_seconds / syn.total_seconds),
        } for m, r in table.iterrows() if m not in ("affine", "syn")}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
