import json

import pandas as pd

from dccnnreg.cohort import read_sheet

SHEET = read_sheet(config["subjects"], config["split"], config.get("qc_exclude", []))
validate(SHEET.reset_index(drop=True), "../schemas/subjects.schema.yaml")
DATASETS = sorted(SHEET["dataset"].unique())
TEMPLATE = config["template"]

wildcard_constraints:
    dataset="[A-Za-z0-9_.-]+",
    subject="[A-Za-z0-9_.-]+",


def row(wc):
    return SHEET.loc[(wc.dataset, wc.subject)]


def subjects(dataset, split=None, labelled=False):
    """Subject ids of ``dataset`` (in ``split`` and with labels, if asked), sorted."""
    df = SHEET[SHEET["dataset"] == dataset]
    if split:
        df = df[df["split"] == split]
    if labelled:
        df = df[df["labels"] != ""]
    return sorted(df["subject"])


def preproc(dataset, subject, kind):
    return f"results/{dataset}/preproc/{subject}_{kind}"


ATLAS = {k: f"results/atlas/{k}.nii.gz" for k in ("head", "brain", "mask", "labels")}


def train_inputs(wc):
    def files(split):
        ids = subjects(wc.dataset, split)
        return {
            f"{split}_images": [preproc(wc.dataset, s, "brain.nii.gz") for s in ids],
            f"{split}_labels": [preproc(wc.dataset, s, "labels.nii.gz") for s in ids],
        }

    return {**files("train"), **files("val"), "atlas": ATLAS["brain"], "atlas_labels": ATLAS["labels"]}


METHODS = ["affine", "dccnn_lstm"]


def eval_inputs(wc):
    common = {"fixed_labels": ATLAS["labels"], "mask": ATLAS["mask"]}
    if wc.method == "affine":
        return {**common, "warped_labels": preproc(wc.dataset, wc.subject, "labels.nii.gz")}
    reg = f"results/{wc.dataset}/{wc.method}/{wc.subject}"
    return {
        **common,
        "warped_labels": f"{reg}_warped_labels.nii.gz",
        "forward": f"{reg}_fwd_warp.nii.gz",
        "inverse": f"{reg}_inv_warp.nii.gz",
        "timing": f"{reg}_time.json",
    }


def test_subjects(wc):
    return subjects(wc.dataset, "test", labelled=True)
