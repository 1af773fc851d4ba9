"""The benchmark report of a dataset: the methods side by side on the labelled test pairs, from the evaluation
jobs' tables, with its figures."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from .labels import label_name, read_label_names
from .nifti import InputError, atomic_path, load_volume
from .plots import dice_boxplot, jacobian_png, overlay_png
from .register import output_paths


def benchmark_report(summaries: list, tables: list, methods: list[str], examples: dict[str, str], affine_example,
                     atlas_labels, label_names, dataset: str, out: dict) -> None:
    """Methods side by side on the labelled test pairs (at least one), from the evaluation jobs' ``summaries``
    and per-structure ``tables`` (TSV): ``out['summary']`` (one row per method, in the order
    of ``methods``; means over the pairs, and the worst pair's folding and inverse consistency), ``out['per_subject']``
    (the pairs' own rows, by method then subject), ``out['per_structure']``, ``out['structure_dice']`` (structure x
    method) and the figures ``out['boxplot']``, ``out['jacobian']``, ``out['overlay']`` of the example subject (the
    first by name), whose registration folders per deformable method are ``examples`` and whose affinely aligned brain
    is ``affine_example``."""
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
        folding_pct_max=("folding_pct", "max"),
        sdlogj=("sdlogj", "mean"),
        inverse_consistency_mm=("inverse_consistency_mm", "mean"),
        inverse_consistency_mm_max=("inverse_consistency_mm", "max"),
        seconds_per_pair=("seconds", "mean"),
        refine_seconds_per_pair=("refine_seconds", "mean"),
    ).reindex(list(methods))
    logging.info("summary for %s:\n%s", dataset, table.to_string())
    with atomic_path(out["summary"]) as tmp:
        table.reset_index().to_csv(tmp, sep="\t", index=False, float_format="%.5g")
    order = {m: k for k, m in enumerate(methods)}
    per_subject = summary.sort_values(["method", "subject"], key=lambda c: c.map(order) if c.name == "method" else c)
    columns = ["method", "subject", *[c for c in per_subject.columns if c not in ("method", "subject")]]
    with atomic_path(out["per_subject"]) as tmp:
        per_subject[columns].to_csv(tmp, sep="\t", index=False, float_format="%.5g")
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
