"""What the workflow's jobs run: typed functions that the thin scripts in ``workflow/scripts`` call with
the job's files and settings unpacked (training launch, registration jobs, evaluation I/O, the benchmark
report)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import torch

from . import checkpoint, distributed, networks
from .data import SubjectFiles, load_sample, subject_files
from .device import pick_device
from .evaluate import evaluate_pair
from .jobs import start_log
from .labels import label_name, read_label_names
from .native import load_atlas_space
from .nifti import InputError, atomic_path, load_volume
from .plots import dice_boxplot, jacobian_png, overlay_png, training_curve_png
from .refine import RefineConfig, refinement
from .register import output_paths, register_cohort, register_pair
from .syn import register_syn
from .train import TrainConfig, train
from .world import read_ants_field


def train_job(method: str, settings: dict, schedule: dict, train_set: list[SubjectFiles], val_set: list[SubjectFiles],
              atlas: tuple[str, str], out_dir, log_path, curve, title: str) -> None:
    """Train ``method`` on ``train_set``: one process, or one per GPU when the job holds several; then
    plot the training curve."""
    if not train_set:
        raise InputError("no training subjects: the split put none in 'train' (check split fractions or the sheet)")
    spec = {"train": train_set, "val": val_set, "atlas": atlas, "method": method, "model": settings,
            "train_config": schedule, "out_dir": str(out_dir), "log": str(log_path)}
    gpus = torch.cuda.device_count()
    nprocs = distributed.processes_for(TrainConfig.from_dict(schedule).batch_size, gpus)
    if gpus > nprocs:
        logging.warning("using %d of %d GPUs: train.batch_size must be a multiple of the processes", nprocs, gpus)
    distributed.launch(train_from_spec, nprocs, spec)
    training_curve_png(pd.read_csv(Path(out_dir) / "metrics.tsv", sep="\t"), curve, title)


def train_from_spec(spec: dict) -> None:
    """One training process: load the subjects named in ``spec`` and train (rank 0 logs)."""
    if distributed.current().rank > 0:
        logging.disable(logging.INFO)
    elif distributed.current().world > 1:
        start_log(spec["log"])
    train_set = [load_sample(s.name, s.brain, s.labels) for s in spec["train"]]
    val_set = [load_sample(s.name, s.brain, s.labels) for s in spec["val"]]
    atlas = load_sample("atlas", *spec["atlas"])
    device = distributed.local_device(pick_device())
    logging.info("training %s on %s (%d process(es)) with %d subjects (%d validation)",
                 spec["method"], device, distributed.current().world, len(train_set), len(val_set))
    config = networks.model_config(spec["method"], spec["model"])
    train(train_set, spec["out_dir"], config, TrainConfig.from_dict(spec["train_config"]),
          device, atlas=atlas, val_set=val_set, progress=True)


def job_atlas(inputs) -> dict:
    """The atlas files of a registration job's ``input`` (``fixed``, ``mask``, ``template_labels``, ``label_names``)."""
    return {"brain": inputs.fixed, "mask": inputs.mask, "template_labels": inputs.template_labels,
            "label_names": getattr(inputs, "label_names", None) or None}


def job_subjects(inputs, ids: dict) -> list[SubjectFiles]:
    """The subjects of a registration job from its ``input`` lists (``moving``, ``moving_labels`` and, for
    subject-space products, ``native`` and ``affines``) and ``ids`` (``subjects``, ``labelled``)."""
    products = "native" in inputs.keys()
    return subject_files(ids["subjects"], list(inputs.moving), ids["labelled"], list(inputs.moving_labels),
                         list(inputs.native) if products else None, list(inputs.affines) if products else None)


def _atlas_space(atlas: dict, subjects: list[SubjectFiles]):
    """The atlas for subject-space products, when any subject of the job gets them."""
    if not any(s.native for s in subjects):
        return None
    return load_atlas_space(atlas["brain"], atlas["mask"], atlas["template_labels"], atlas.get("label_names"))


def register_network_job(model_path, atlas: dict, subjects: list[SubjectFiles], out_dir, dataset: str,
                         precision: str, refine: dict | None = None) -> None:
    """Register a batch of subjects to ``atlas['brain']`` with a trained network, loaded once; ``refine``
    (:class:`~dccnnreg.refine.RefineConfig` settings) refines each pair on the model's training objective."""
    device = pick_device()
    model = checkpoint.load_model(model_path, device)
    config = RefineConfig(**refine) if refine else RefineConfig()
    refining = refinement(model_path, config)
    register = lambda moving, fixed: register_pair(model, moving, fixed, device, precision, refining)
    what = f"{model.method} on {device}" + (f", refined {config.steps} steps" if refining else "")
    register_cohort(register, atlas["brain"], subjects, out_dir, dataset, what, _atlas_space(atlas, subjects))


def register_syn_job(atlas: dict, subjects: list[SubjectFiles], out_dir, dataset: str, preset: str, seed: int) -> None:
    """Register subjects to ``atlas['brain']`` with ANTs SyN."""
    register = lambda moving, fixed: register_syn(moving, fixed, preset, seed)
    register_cohort(register, atlas["brain"], subjects, out_dir, dataset, f"SyN ({preset})", _atlas_space(atlas, subjects))


def evaluate_job(fixed_labels, mask, pairs: dict, labels, method: str, out_table, out_summary) -> None:
    """Score registered pairs against the atlas labels: ``pairs`` maps each subject to its deformable
    result's file prefix (a registration folder / subject) or, for an affine-only result (no field),
    to its warped label map. Writes the per-structure rows and one summary row per subject."""
    fixed = load_volume(fixed_labels, labels=True)
    inside = load_volume(mask, labels=True).data > 0
    tables, summaries = [], []
    for subject, path in pairs.items():
        if method == "affine":
            warped, fwd, inv, times = load_volume(path, labels=True), None, None, {}  # part of preprocessing
        else:
            reg = output_paths(path)
            warped = load_volume(reg["warped_labels"], labels=True)
            fwd, inv = read_ants_field(reg["forward"])[0], read_ants_field(reg["inverse"])[0]
            times = json.loads(reg["timing"].read_text())
        table, summary = evaluate_pair(fixed.data, warped.data, fixed.affine, fwd, inv, inside, labels)
        tables.append(table.assign(method=method, subject=subject))
        summaries.append({**summary, "method": method, "subject": subject, "seconds": times.get("seconds"),
                          "refine_seconds": times.get("refine_seconds", 0.0 if times else None)})
        logging.info("%s %s: Dice %.3f, %.3f %% folding", method, subject, summary["dice_mean"], summary["folding_pct"])
    with atomic_path(out_table) as tmp:
        pd.concat(tables, ignore_index=True).to_csv(tmp, sep="\t", index=False)
    with atomic_path(out_summary) as tmp:
        pd.DataFrame(summaries).to_csv(tmp, sep="\t", index=False)


def benchmark_report(summaries: list, tables: list, methods: list[str], examples: dict[str, str], affine_example,
                     atlas_labels, label_names, dataset: str, out: dict) -> None:
    """Methods side by side on the labelled test pairs (at least one), from the evaluation jobs' ``summaries``
    and per-structure ``tables`` (TSV): ``out['summary']`` (one row per method, in the order
    of ``methods``), ``out['per_structure']``, ``out['structure_dice']`` (structure x method) and the
    figures ``out['boxplot']``, ``out['jacobian']``, ``out['overlay']`` of the example subject (the first
    by name), whose registration folders per deformable method are ``examples`` and whose affinely
    aligned brain is ``affine_example``."""
    if not summaries:
        raise InputError(f"dataset {dataset}: no labelled test subject passed its input checks, nothing to benchmark")
    summary = pd.concat([pd.read_csv(p, sep="\t", dtype={"subject": str}) for p in summaries], ignore_index=True)
    per_structure = pd.concat([pd.read_csv(p, sep="\t", dtype={"subject": str}) for p in tables], ignore_index=True)
    names = read_label_names(label_names)
    per_structure["name"] = [label_name(k, names) for k in per_structure["label"]]
    with atomic_path(out["per_structure"]) as tmp:
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
        refine_seconds_per_pair=("refine_seconds", "mean"),
    ).reindex(list(methods))
    logging.info("summary for %s:\n%s", dataset, table.to_string())
    with atomic_path(out["summary"]) as tmp:
        table.reset_index().to_csv(tmp, sep="\t", index=False, float_format="%.5g")
    structures = per_structure.pivot_table(index="name", columns="method", values="dice", aggfunc="mean")
    with atomic_path(out["structure_dice"]) as tmp:
        structures.reindex(columns=list(methods)).to_csv(tmp, sep="\t", float_format="%.4f")
    subject = min(summary["subject"])
    dice_boxplot(per_structure, out["boxplot"], f"{dataset}: Dice per structure, {summary['subject'].nunique()} test pairs")
    prefixes = {m: output_paths(Path(d) / subject) for m, d in examples.items()}
    jacobian_png({m: load_volume(e["jacobian"]).data for m, e in prefixes.items()}, out["jacobian"],
                 f"{dataset}/{subject}: Jacobian determinant")
    warped = {m: load_volume(e["warped"]).data for m, e in prefixes.items()}
    if "affine" in methods and affine_example:
        warped = {"affine": load_volume(affine_example).data, **warped}
    overlay_png(warped, load_volume(atlas_labels, labels=True).data,
                out["overlay"], f"{dataset}/{subject} on the atlas grid, atlas labels", labels=True)
