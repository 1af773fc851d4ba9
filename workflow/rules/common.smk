import functools
import math
import os

import pandas as pd

from dccnnreg.cohort import cohort_sheet, excluded_ids
from dccnnreg.config import LEARNED_METHODS, field_subdivision, method_settings
from dccnnreg.nifti import InputError
from dccnnreg.split import assign_batch
from snakemake.exceptions import IncompleteCheckpointException

try:
    SHEET_ALL = cohort_sheet(config)
except InputError as e:
    demo_hint = " (make the demo cohort first: dccnnreg demo)" if "resources/demo" in str(e) else ""
    raise WorkflowError(f"cohort: {e}{demo_hint}") from None
validate(SHEET_ALL.reset_index(drop=True), "../schemas/subjects.schema.yaml")
EXCLUDED = excluded_ids(SHEET_ALL, config.get("qc_exclude", []))
SHEET = SHEET_ALL[~SHEET_ALL.index.isin(EXCLUDED)]
DATASETS = sorted(SHEET_ALL["dataset"].unique())
TEMPLATE = config["template"]
BIDS = bool(config.get("bids"))
DERIVATIVES = config["bids"].get("output", "derivatives/dccnnreg") if BIDS else None  # written for BIDS input

wildcard_constraints:
    dataset="[A-Za-z0-9_.-]+",
    subject="[A-Za-z0-9_.-]+",


ENTRY = SHEET.to_dict("index")  # (dataset, subject) -> its sheet row: the planner's lookups stay O(1)


def row(wc):
    return ENTRY[(wc.dataset, wc.subject)]


def has_labels(dataset, subject):
    """The one place that decides whether a subject has a label map: a non-empty `labels` cell."""
    return ENTRY[(dataset, subject)]["labels"] != ""


@functools.cache
def subjects(dataset, split=None, labelled=False):
    """Subject ids of ``dataset`` (in ``split`` and with labels, if asked), sorted; qc_exclude'd ones left out."""
    df = SHEET[SHEET["dataset"] == dataset]
    if split:
        df = df[df["split"] == split]
    if labelled:
        df = df[df["labels"] != ""]
    return tuple(sorted(df["subject"]))


@functools.cache
def chunk_of(dataset, subject):
    """The subject's chunk: the hash of its id into `register.batches` (stable as the cohort grows). Input
    checks run per chunk, and a cohort method's registration batch is the chunk."""
    return f"{assign_batch(dataset, subject, config['register']['batches']):03d}"


def grouped(ids, key):
    """key(id) -> those of ``ids`` with that key, in their order."""
    out = {}
    for s in ids:
        out.setdefault(key(s), []).append(s)
    return out


def by_chunk(dataset, ids):
    """Chunk id -> those of ``ids`` in it, in their order."""
    return grouped(ids, lambda s: chunk_of(dataset, s))


@functools.cache
def chunks(dataset):
    """Chunk id -> the (not excluded) subjects in it."""
    return by_chunk(dataset, subjects(dataset))


def check_path(dataset, chunk):
    return f"results/{dataset}/inputs/chunk-{chunk}.tsv"


def check_paths(dataset, ids):
    """The input-check tables covering ``ids``: a job that calls `passed` on them takes these as input
    (wrapped in `ancient`, so a rewritten table reruns nothing) and is re-planned when they are written."""
    return [ancient(check_path(dataset, c)) for c in sorted({chunk_of(dataset, s) for s in ids})]


@functools.lru_cache(maxsize=None)
def _check_table(path, mtime_ns):
    table = pd.read_csv(path, sep="\t", dtype={"subject": str})
    return dict(zip(table["subject"], table["ok"]))


def chunk_checks(dataset, chunk):
    """Subject -> whether its input check passed, once the chunk is checked; None before."""
    try:
        path = checkpoints.check_inputs.get(dataset=dataset, chunk=chunk).output[0]
    except IncompleteCheckpointException:
        return None
    return _check_table(path, os.stat(path).st_mtime_ns)


@functools.cache
def files_exist(dataset, subject):
    entry = ENTRY[(dataset, subject)]
    return all(os.path.exists(f) for f in (entry["image"], entry["labels"]) if f)


def passing(dataset, ids):
    """The ``ids`` whose input check passed. Until its chunk is checked, a subject whose files exist is planned
    as passing (so a dry run shows the whole plan); jobs are re-planned when the check is written."""
    checks = {c: chunk_checks(dataset, c) for c in {chunk_of(dataset, s) for s in ids}}
    tables = [(s, checks[chunk_of(dataset, s)]) for s in ids]
    return [s for s, table in tables if (files_exist(dataset, s) if table is None else bool(table.get(s, True)))]


def preproc(dataset, subject, kind):
    return f"results/{dataset}/preproc/{subject}_{kind}"


@functools.cache
def preprocess_batches(dataset):
    """Preprocessing batch -> its subjects, hashed into batches of about `preprocess.batch_size`. A batch's
    brain-volume table depends on all its subjects' preprocessing, so the SLURM profile's `preprocess` group
    runs a batch's affine, labels_to_grid and skull_strip steps as one job."""
    ids = subjects(dataset)
    n = max(1, math.ceil(len(ids) / config["preprocess"]["batch_size"]))
    return grouped(ids, lambda s: f"{assign_batch(dataset, s, n):03d}")


def preprocess_qc_pairs(wc):
    """Subject -> (brain mask, affine) of the batch's subjects that passed their checks."""
    ids = passing(wc.dataset, preprocess_batches(wc.dataset)[wc.batch])
    return {s: (preproc(wc.dataset, s, "mask.nii.gz"), preproc(wc.dataset, s, "affine.mat")) for s in ids}


def preprocess_qc_inputs(wc):
    """The QC table's files and, so that a batch's group job holds all its subjects' steps, their label maps."""
    pairs = preprocess_qc_pairs(wc)
    return {
        "checks": check_paths(wc.dataset, preprocess_batches(wc.dataset)[wc.batch]),
        "masks": [mask for mask, _ in pairs.values()],
        "affines": [affine for _, affine in pairs.values()],
        "labels": [preproc(wc.dataset, s, "labels.nii.gz") for s in pairs if has_labels(wc.dataset, s)],
    }


ATLAS = {k: f"results/atlas/{k}.nii.gz" for k in ("head", "brain", "mask", "labels")}
# What the affine stage registers to: the atlas head, or the template at a finer spacing where the grid is coarse.
AFFINE_REFERENCE = ("results/atlas/affine_reference.nii.gz"
                    if config["grid"]["spacing_mm"] > config["preprocess"]["affine_spacing_mm"] else ATLAS["head"])
LABEL_NAMES = TEMPLATE.get("label_names") or []


def train_inputs(wc):
    def files(split):
        ids = passing(wc.dataset, subjects(wc.dataset, split))
        return {
            f"{split}_images": [preproc(wc.dataset, s, "brain.nii.gz") for s in ids],
            f"{split}_labels": [preproc(wc.dataset, s, "labels.nii.gz") for s in ids if has_labels(wc.dataset, s)],
        }

    checks = check_paths(wc.dataset, subjects(wc.dataset, "train") + subjects(wc.dataset, "val"))
    return {**files("train"), **files("val"), "checks": checks, "atlas": ATLAS["brain"], "atlas_labels": ATLAS["labels"]}


def train_params(wc):
    """Names of the train / val subjects that passed their checks, and those of them with labels."""
    ids = {split: passing(wc.dataset, subjects(wc.dataset, split)) for split in ("train", "val")}
    return {**ids, **{f"{split}_labelled": [s for s in v if has_labels(wc.dataset, s)] for split, v in ids.items()}}


METHODS = config["methods"]  # the benchmark: compared on labelled test subjects
COHORT_METHODS = config["register"]["methods"]  # register every subject of the cohort
LEARNED = list(LEARNED_METHODS)  # trained by the `train` rule, registered in batches
DEFORMABLE = [m for m in METHODS if m != "affine"]


def network_settings(wc):
    return method_settings(wc.method, config)[0]


def train_settings(wc):
    return method_settings(wc.method, config)[1]


def registered(dataset, method):
    """Subjects a method registers (before input checks): the whole cohort for `register.methods`,
    the labelled test subjects for a method that is only benchmarked."""
    return subjects(dataset) if method in COHORT_METHODS else subjects(dataset, "test", labelled=True)


@functools.cache
def register_batches(dataset, method):
    """Batch id -> subjects registered in one job (the model loaded once): the subject's chunk, so a new
    subject reruns only its own batch."""
    return by_chunk(dataset, registered(dataset, method))


def batch_subjects(wc):
    """The subjects of the job's batch (before input checks)."""
    return register_batches(wc.dataset, wc.method)[wc.batch]


def registration_dir(dataset, method, subject):
    """The folder holding ``subject``'s warps: one job per subject for SyN, per batch for networks."""
    if method == "syn":
        return f"results/{dataset}/syn/{subject}"
    return f"results/{dataset}/{method}/batch-{chunk_of(dataset, subject)}"


def registration_inputs(candidates, dataset, method):
    """Input files of a registration job over the ``candidates`` that pass their checks (labels only for
    labelled subjects; native image and affine for the subject-space products of cohort methods)."""
    subject_ids = passing(dataset, candidates)
    files = {
        "checks": check_paths(dataset, candidates),
        "moving": [preproc(dataset, s, "brain.nii.gz") for s in subject_ids],
        "moving_labels": [preproc(dataset, s, "labels.nii.gz") for s in subject_ids if has_labels(dataset, s)],
    }
    if method in COHORT_METHODS:
        files["native"] = [ENTRY[(dataset, s)]["image"] for s in subject_ids]
        files["affines"] = [preproc(dataset, s, "affine.mat") for s in subject_ids]
    return files


def registration_params(candidates, dataset):
    subject_ids = passing(dataset, candidates)
    return {"subjects": subject_ids, "labelled": [s for s in subject_ids if has_labels(dataset, s)]}


def benchmark_subjects(dataset):
    """Labelled test subjects that passed their checks: the pairs scored against labels."""
    return passing(dataset, subjects(dataset, "test", labelled=True))


def benchmark_datasets():
    return [d for d in DATASETS if subjects(d, "test", labelled=True)]


def eval_batches(dataset):
    """Evaluation batch (the chunk) -> its benchmark subjects: one `evaluate` job per method and batch."""
    return by_chunk(dataset, benchmark_subjects(dataset))


def eval_pairs(wc):
    """Subject -> what `evaluate` scores: the affine-only label map, or the prefix of the subject's registration files."""
    ids = eval_batches(wc.dataset).get(wc.batch, [])
    if wc.method == "affine":
        return {s: preproc(wc.dataset, s, "labels.nii.gz") for s in ids}
    return {s: f"{registration_dir(wc.dataset, wc.method, s)}/{s}" for s in ids}


def eval_inputs(wc):
    ids = eval_batches(wc.dataset).get(wc.batch, [])
    if wc.method == "affine":
        scored = [preproc(wc.dataset, s, "labels.nii.gz") for s in ids]
    else:
        scored = sorted({registration_dir(wc.dataset, wc.method, s) for s in ids})
    return {"fixed_labels": ATLAS["labels"], "mask": ATLAS["mask"], "scored": scored,
            "checks": check_paths(wc.dataset, ids)}


def cohort_inputs(wc):
    ids = subjects(wc.dataset)
    return {
        "checks": [check_path(wc.dataset, c) for c in sorted(chunks(wc.dataset))],
        "registrations": sorted({registration_dir(wc.dataset, wc.method, s) for s in passing(wc.dataset, ids)}),
    }


def benchmark_inputs(wc):
    ids = benchmark_subjects(wc.dataset)
    checks = check_paths(wc.dataset, subjects(wc.dataset, "test", labelled=True))
    if not ids:
        return {"checks": checks}
    runs = [(m, b) for m in METHODS for b in sorted(eval_batches(wc.dataset))]
    return {
        "checks": checks,
        "tables": [f"results/{wc.dataset}/eval/{m}/batch-{b}_structures.tsv" for m, b in runs],
        "summaries": [f"results/{wc.dataset}/eval/{m}/batch-{b}_summary.tsv" for m, b in runs],
        "examples": [registration_dir(wc.dataset, m, ids[0]) for m in DEFORMABLE],
        "affine_example": preproc(wc.dataset, ids[0], "brain.nii.gz"),
    }


def chunk_files(wc):
    """(subject, image, labels) of the chunk's subjects, as written in the sheet."""
    return [(s, ENTRY[(wc.dataset, s)]["image"], ENTRY[(wc.dataset, s)]["labels"]) for s in chunks(wc.dataset)[wc.chunk]]


def atlas_for_products(wc):
    """Atlas files a registration job reads: the fixed brain and, for subject-space products, the
    mask, the template's own labels and their names."""
    return {"fixed": ATLAS["brain"], "mask": ATLAS["mask"], "template_labels": TEMPLATE["labels"],
            "label_names": LABEL_NAMES}


def final_outputs(wc):
    """Every dataset's cohort tables and split; the benchmark report where labelled test subjects passed their checks."""
    cohort = expand("results/{dataset}/cohort/{method}/qc.tsv", dataset=DATASETS, method=COHORT_METHODS)
    cohort += expand("results/{dataset}/split.tsv", dataset=DATASETS)
    cohort += [f"results/{d}/qc/preprocess/batch-{b}.tsv" for d in DATASETS for b in sorted(preprocess_batches(d))]
    checks = [f for d in benchmark_datasets() for f in check_paths(d, subjects(d, "test", labelled=True))]
    benchmark = [f"results/{d}/report/summary.tsv" for d in benchmark_datasets()
                 if benchmark_subjects(d)]
    return cohort + checks + benchmark + ([DERIVATIVES] if BIDS else [])


def derivative_units(wc):
    """Cohort method -> {unit: registration folder} of the subjects that passed their checks (BIDS input)."""
    ids = passing(DATASETS[0], subjects(DATASETS[0]))
    return {m: {s: registration_dir(DATASETS[0], m, s) for s in ids} for m in COHORT_METHODS}


def derivatives_inputs(wc):
    dataset = DATASETS[0]
    return {
        "checks": [check_path(dataset, c) for c in sorted(chunks(dataset))],
        "registrations": sorted({d for dirs in derivative_units(wc).values() for d in dirs.values()}),
        "qc_tables": [f"results/{dataset}/cohort/{m}/qc.tsv" for m in COHORT_METHODS],
        "volume_tables": [f"results/{dataset}/cohort/{m}/volumes.tsv" for m in COHORT_METHODS],
    }
