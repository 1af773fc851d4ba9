"""Glue between Snakemake jobs and the package: each ``run_*`` takes the job's ``snakemake`` object
(anything with ``input``, ``output``, ``params``, ``wildcards``) and calls the library."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from . import checkpoint, distributed, networks
from .data import load_sample
from .device import pick_device
from .evaluate import evaluate_pair
from .nifti import InputError, atomic_path, load_volume
from .plots import dice_boxplot, jacobian_png, overlay_png, training_curve_png
from .register import Registration, output_paths, register_pair, write_registration
from .syn import register_syn
from .train import TrainConfig, train
from .world import read_ants_field


def start_log(path, threads: int | None = None) -> None:
    """Send logging, stdout and stderr of a job to its log file; cap torch's and ITK's (ANTs) CPU threads."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", buffering=1)
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    if threads:
        torch.set_num_threads(threads)
        os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(threads)


@contextlib.contextmanager
def subject_errors(dataset: str, subject: str):
    """Re-raise input problems with the dataset and subject named first."""
    try:
        yield
    except InputError as e:
        raise InputError(f"subject {dataset}/{subject}: {e}") from None


def run_training(smk) -> None:
    """Train the job's method on its train split: one process, or one per GPU when the job holds several."""
    i, p = smk.input, smk.params
    labelled = bool(p.has_labels)
    spec = {
        "train": [(n, a, b if labelled else None) for n, a, b in zip(p.train_ids, i.train_images, i.train_labels)],
        "val": [(n, a, b if labelled else None) for n, a, b in zip(p.val_ids, i.val_images, i.val_labels)],
        "atlas": (i.atlas, i.atlas_labels),
        "method": p.method,
        "model": p.model,
        "train_config": p.train,
        "out_dir": str(Path(smk.output.model).parent),
        "log": str(smk.log[0]),
    }
    if not spec["train"]:
        raise InputError("no training subjects: the split put none in 'train' (check split fractions or the sheet)")
    gpus = torch.cuda.device_count()
    nprocs = distributed.processes_for(TrainConfig.from_dict(p.train).batch_size, gpus)
    if gpus > nprocs:
        logging.warning("using %d of %d GPUs: train.batch_size must be a multiple of the processes", nprocs, gpus)
    distributed.launch(train_from_spec, nprocs, spec)
    metrics = pd.read_csv(smk.output.metrics, sep="\t")
    training_curve_png(metrics, smk.output.curve, f"{smk.wildcards.dataset}: training {p.method}")


def train_from_spec(spec: dict) -> None:
    """One training process: load the subjects named in ``spec`` and train (rank 0 logs)."""
    if distributed.current().rank > 0:
        logging.disable(logging.INFO)
    elif distributed.current().world > 1:
        start_log(spec["log"])
    train_set = [load_sample(*t) for t in spec["train"]]
    val_set = [load_sample(*t) for t in spec["val"]]
    atlas = load_sample("atlas", *spec["atlas"])
    device = distributed.local_device(pick_device())
    logging.info("training %s on %s (%d process(es)) with %d subjects (%d validation)",
                 spec["method"], device, distributed.current().world, len(train_set), len(val_set))
    config = networks.model_config(spec["method"], spec["model"])
    train(train_set, spec["out_dir"], config, TrainConfig.from_dict(spec["train_config"]),
          device, atlas=atlas, val_set=val_set, progress=True)


def register_cohort(register, fixed_path, subjects, images, labels, out_dir, dataset: str, what: str) -> float:
    """Register each subject onto ``fixed_path`` with ``register(moving, fixed) -> Registration`` and
    write its files into ``out_dir``. Logs progress; returns the wall time in seconds including I/O."""
    fixed = load_sample("atlas", fixed_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for k, (subject, image, lab) in enumerate(zip(subjects, images, labels), 1):
        with subject_errors(dataset, subject):
            moving = load_sample(subject, image, lab)
        reg: Registration = register(moving, fixed)
        write_registration(reg, fixed.affine, out_dir / subject)
        logging.info("[%d/%d] %s: %s %.2f s", k, len(subjects), subject, what, reg.seconds)
    seconds = time.perf_counter() - start
    logging.info("%d pairs in %.1f s including I/O (%.0f pairs/hour)", len(subjects), seconds, 3600 * len(subjects) / seconds)
    return seconds


def run_registration(smk) -> None:
    """Register a batch of subjects to the atlas with a trained network, loaded once."""
    device = pick_device()
    model = checkpoint.load_model(smk.input.model, device)
    register = lambda moving, fixed: register_pair(model, moving, fixed, device, smk.params.precision)
    register_cohort(register, smk.input.fixed, smk.params.subjects, smk.input.moving, smk.input.moving_labels,
                    smk.output[0], smk.wildcards.dataset, f"{model.method} on {device}")


def run_syn_registration(smk) -> None:
    """Register one subject to the atlas with ANTs SyN."""
    p = smk.params
    register = lambda moving, fixed: register_syn(moving, fixed, p.preset, p.seed)
    register_cohort(register, smk.input.fixed, [smk.wildcards.subject], [smk.input.moving], [smk.input.moving_labels],
                    smk.output[0], smk.wildcards.dataset, f"SyN ({p.preset})")


def run_evaluation(smk) -> None:
    i = smk.input
    fixed = load_volume(i.fixed_labels, labels=True)
    mask = load_volume(i.mask, labels=True).data > 0
    if "registration" in i.keys():
        reg = output_paths(Path(i.registration) / smk.wildcards.subject)
        warped = load_volume(reg["warped_labels"], labels=True)
        fwd, inv = read_ants_field(reg["forward"])[0], read_ants_field(reg["inverse"])[0]
        seconds = json.loads(reg["timing"].read_text())["seconds"]
    else:
        warped, fwd, inv, seconds = load_volume(i.warped_labels, labels=True), None, None, None  # part of preprocessing
    table, summary = evaluate_pair(fixed.data, warped.data, fixed.affine, fwd, inv, mask, smk.params.labels)
    summary["seconds"] = seconds
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
    ).reindex(list(smk.params.methods))
    logging.info("summary for %s:\n%s", dataset, table.to_string())
    with atomic_path(smk.output.summary) as tmp:
        table.reset_index().to_csv(tmp, sep="\t", index=False, float_format="%.5g")
    structures = per_structure.pivot_table(index="name", columns="method", values="dice", aggfunc="mean")
    with atomic_path(smk.output.structure_dice) as tmp:
        structures[list(smk.params.methods)].to_csv(tmp, sep="\t", float_format="%.4f")
    dice_boxplot(per_structure, smk.output.boxplot, f"{dataset}: Dice per structure, {len(smk.params.subjects)} test pairs")
    subject = smk.params.subjects[0]
    examples = {m: output_paths(Path(d) / subject) for m, d in zip(smk.params.deformable, smk.input.examples)}
    jacobian_png({m: load_volume(e["jacobian"]).data for m, e in examples.items()}, smk.output.jacobian,
                 f"{dataset}/{subject}: Jacobian determinant")
    warped = {m: load_volume(e["warped"]).data for m, e in examples.items()}
    if "affine" in smk.params.methods:
        warped = {"affine": load_volume(smk.input.affine_example).data, **warped}
    overlay_png(warped, load_volume(smk.input.atlas_labels, labels=True).data,
                smk.output.overlay, f"{dataset}/{subject} on the atlas grid, atlas labels", labels=True)
