import functools
import json

import pandas as pd

from dccnnreg.cohort import read_sheet
from dccnnreg.networks import NETWORKS, settings_from_config
from dccnnreg.split import assign_batch

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


METHODS = config["methods"]
LEARNED = list(NETWORKS)  # trained by the `train` rule, registered in batches
DEFORMABLE = [m for m in METHODS if m != "affine"]


def network_settings(wc):
    return settings_from_config(wc.method, config)[0]


def train_settings(wc):
    return settings_from_config(wc.method, config)[1]


@functools.cache
def register_batches(dataset):
    """Batch id -> the labelled test subjects registered in one job (the model loaded once).
    Membership hashes the subject id, so a new subject reruns only its own batch."""
    batches = {}
    for s in subjects(dataset, "test", labelled=True):
        batches.setdefault(f"{assign_batch(dataset, s, config['register']['batches']):03d}", []).append(s)
    return batches


def registration_dir(dataset, method, subject):
    """The folder holding ``subject``'s warps: one job per subject for SyN, per batch for networks."""
    if method == "syn":
        return f"results/{dataset}/syn/{subject}"
    batch = next(b for b, ids in register_batches(dataset).items() if subject in ids)
    return f"results/{dataset}/{method}/batch-{batch}"


def eval_inputs(wc):
    common = {"fixed_labels": ATLAS["labels"], "mask": ATLAS["mask"]}
    if wc.method == "affine":
        return {**common, "warped_labels": preproc(wc.dataset, wc.subject, "labels.nii.gz")}
    return {**common, "registration": registration_dir(wc.dataset, wc.method, wc.subject)}


def test_subjects(wc):
    return subjects(wc.dataset, "test", labelled=True)
