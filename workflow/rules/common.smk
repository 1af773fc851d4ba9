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
