"""Accuracy of the cohort's regional volumes: atlas labels carried into each subject's native space
(``{subject}_volumes.tsv`` of a workflow run) against volumes of the subject's own label map.

Run after the workflow, in its working directory, with the run's config files (the subjects' own
label maps come from its cohort: the sheet's `labels` or the BIDS label derivatives), e.g. on the demo:

    python bench/cohort_volumes.py --dataset demo --out bench/results/cohort_volumes_demo.json

Writes per subject and overall: the mean absolute relative volume error over structures and the
mean Dice of the native-space atlas labels against the subject's own labels (JSON).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from dccnnreg.cohort import cohort_sheet
from dccnnreg.config import load_config
from dccnnreg.metrics import dice_per_label
from dccnnreg.native import regional_volumes, subject_paths
from dccnnreg.nifti import load_volume


def subject_errors(prefix, own_labels_path) -> dict:
    """Volume errors and Dice of one subject's native-space atlas labels against its own label map."""
    paths = subject_paths(prefix)
    ours = pd.read_csv(paths["volumes"], sep="\t").set_index("label")
    own = load_volume(own_labels_path, labels=True)
    truth = regional_volumes(own.data, own.affine, list(ours.index), {}).set_index("label")["volume_mm3"]
    scored = truth[truth > 0].index
    rel = (ours.loc[scored, "volume_mm3"] - truth[scored]).abs() / truth[scored]
    dice = dice_per_label(load_volume(paths["native_labels"], labels=True).data, own.data)
    return {"structures": len(scored), "mean_abs_rel_volume_error": float(rel.mean()),
            "median_abs_rel_volume_error": float(rel.median()), "mean_dice": float(np.mean(list(dice.values())))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", default=".")
    p.add_argument("--dataset", required=True)
    p.add_argument("--method", default="dccnn_lstm")
    p.add_argument("--config", nargs="+", default=["config/config.yaml", "config/demo.yaml"],
                   help="the run's config files, merged in order (default: the demo's)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    wd = Path(a.workdir)
    cfg = load_config(*(wd / c for c in a.config))
    own_labels = cohort_sheet(cfg).loc[a.dataset, "labels"]
    qc = pd.read_csv(wd / f"results/{a.dataset}/cohort/{a.method}/qc.tsv", sep="\t")
    results = {}
    for s in qc.loc[qc["status"] == "ok", "subject"]:
        prefix = next((wd / f"results/{a.dataset}/{a.method}").glob(f"*/{s}_volumes.tsv")).parent / s
        own = wd / own_labels[s] if own_labels.get(s) else None
        if own is not None:
            results[s] = subject_errors(prefix, own)
    summary = {k: float(np.mean([r[k] for r in results.values()])) for k in ("mean_abs_rel_volume_error", "mean_dice")}
    out = {"dataset": a.dataset, "method": a.method, "subjects": len(results), **summary, "per_subject": results}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
