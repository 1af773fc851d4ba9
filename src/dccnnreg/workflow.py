"""Glue between Snakemake jobs and the package: each ``run_*`` takes the job's ``snakemake`` object
(anything with ``input``, ``output``, ``params``, ``wildcards``) and calls the library."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path

import pandas as pd
import torch

from . import checkpoint
from .data import load_sample
from .device import pick_device
from .evaluate import evaluate_pair
from .model import ModelConfig
from .nifti import InputError, atomic_path, load_volume
from .plots import dice_boxplot, jacobian_png, overlay_png, training_curve_png
from .register import register_pair, write_registration
from .train import TrainConfig, train
from .world import read_ants_field


def start_log(path, threads: int | None = None) -> None:
    """Send logging, stdout and stderr of a job to its log file; cap torch's CPU threads."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", buffering=1)
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    if threads:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def subject_errors(wildcards):
    """Re-raise input problems with the dataset and subject named first."""
    try:
        yield
    except InputError as e:
        raise InputError(f"subject {wildcards.dataset}/{wildcards.subject}: {e}") from None


def run_training(smk) -> None:
    i, p = smk.input, smk.params
    use_labels = bool(p.has_labels)
    load = lambda names, imgs, labs: [load_sample(n, a, b if use_labels else None) for n, a, b in zip(names, imgs, labs)]
    train_set = load(p.train_ids, i.train_images, i.train_labels)
    val_set = load(p.val_ids, i.val_images, i.val_labels)
    if not train_set:
        raise InputError("no training subjects: the split put none in 'train' (check split fractions or the sheet)")
    atlas = load_sample("atlas", i.atlas, i.atlas_labels)
    device = pick_device()
    logging.info("training on %s with %d subjects (%d validation)", device, len(train_set), len(val_set))
    out_dir = Path(smk.output.model).parent
    train(train_set, out_dir, ModelConfig(**p.model), TrainConfig.from_dict(p.train), device, atlas=atlas,
          val_set=val_set, progress=True)
    metrics = pd.read_csv(smk.output.metrics, sep="\t")
    training_curve_png(metrics, smk.output.curve, f"{smk.wildcards.dataset}: training")


def run_registration(smk) -> None:
    device = pick_device()
    model = checkpoint.load_model(smk.input.model, device)
    moving = load_sample(smk.wildcards.subject, smk.input.moving, smk.input.moving_labels)
    fixed = load_sample("atlas", smk.input.fixed)
    reg = register_pair(model, moving, fixed, device, smk.params.precision)
    write_registration(reg, fixed.affine, smk.params.prefix)
    with atomic_path(smk.output.timing) as tmp:
        Path(tmp).write_text(json.dumps({"seconds": reg.seconds, "device": str(device)}))
    logging.info("registered %s in %.2f s on %s", smk.wildcards.subject, reg.seconds, device)


def run_evaluation(smk) -> None:
    i = smk.input
    fixed = load_volume(i.fixed_labels, labels=True)
    warped = load_volume(i.warped_labels, labels=True)
    mask = load_volume(i.mask, labels=True).data > 0
    fwd = read_ants_field(i.forward)[0] if "forward" in i.keys() else None
    inv = read_ants_field(i.inverse)[0] if "inverse" in i.keys() else None
    table, summary = evaluate_pair(fixed.data, warped.data, fixed.affine, fwd, inv, mask, smk.params.labels)
    summary["seconds"] = json.loads(Path(i.timing).read_text())["seconds"] if "timing" in i.keys() else 0.0
    with atomic_path(smk.output.table) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    with atomic_path(smk.output.summary) as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=2))


def collect(dataset_dir: Path, methods, subjects) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-pair summaries and per-structure rows of every method and subject."""
    summaries, structures = [], []
    for m in methods:
        for s in subjects:
            base = dataset_dir / "eval" / m / s
            summaries.append({"method": m, "subject": s, **json.loads(Path(f"{base}_summary.json").read_text())})
            structures.append(pd.read_csv(f"{base}_structures.tsv", sep="\t").assign(method=m, subject=s))
    return pd.DataFrame(summaries), pd.concat(structures, ignore_index=True)


def run_dataset_report(smk) -> None:
    dataset = smk.wildcards.dataset
    summary, per_structure = collect(Path(smk.output.summary).parents[1], smk.params.methods, smk.params.subjects)
    names = smk.input.label_names
    if names:
        lut = pd.read_csv(names, sep="\t").set_index("label")["name"]
        per_structure["name"] = per_structure["label"].map(lut).fillna(per_structure["label"].astype(str))
    else:
        per_structure["name"] = per_structure["label"].astype(str)
    with atomic_path(smk.output.per_structure) as tmp:
        per_structure.to_csv(tmp, sep="\t", index=False)
    table = summary.groupby("method").agg(
        pairs=("subject", "count"),
        dice_mean=("dice_mean", "mean"),
        dice_sd=("dice_mean", "std"),
        hd95_mm=("hd95_mean_mm", "mean"),
        folding_pct=("folding_pct", "mean"),
        sdlogj=("sdlogj", "mean"),
        inverse_consistency_mm=("inverse_consistency_mm", "mean"),
        seconds_per_pair=("seconds", "mean"),
    )
    logging.info("summary for %s:\n%s", dataset, table.to_string())
    with atomic_path(smk.output.summary) as tmp:
        table.reset_index().to_csv(tmp, sep="\t", index=False, float_format="%.5g")
    dice_boxplot(per_structure, smk.output.boxplot, f"{dataset}: Dice per structure, {len(smk.params.subjects)} test pairs")
    subject = smk.params.subjects[0]
    jacobian_png(load_volume(smk.input.jacobian).data, smk.output.jacobian, f"{dataset}/{subject}: Jacobian determinant")
    overlay_png(load_volume(smk.input.warped).data, load_volume(smk.input.atlas_labels, labels=True).data,
                smk.output.overlay, f"{dataset}/{subject} warped to the atlas, atlas labels", labels=True)
