"""A BIDS dataset as the cohort sheet: every T1w image (subject, session, run) becomes one unit.

Discovery uses ``bids2table``: one pass over the file names into an Arrow table, no database to
build (see README for its time on 5,000 participants). A unit's id is the image's BIDS entities
(``sub-01_ses-2_run-1``), its ``participant`` the subject (``sub-01``): the split is drawn per
participant, so all sessions of a subject land on the same side. Label maps come from an optional
derivatives dataset (``*_dseg.nii[.gz]`` in the image's space), matched on the image's entities.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from .nifti import InputError

# config filter names -> bids2table columns (short entity keys are accepted as they are)
ENTITIES = {"subject": "sub", "session": "ses", "acquisition": "acq", "ceagent": "ce",
            "reconstruction": "rec", "run": "run", "part": "part"}
MATCH = ("acq", "ce", "rec", "run", "part")  # a label map names these or applies to all of them
NIFTI = (".nii", ".nii.gz")
BIDS_VERSION = "1.10.0"  # written into the dataset descriptions this package makes


def write_json(path: Path, obj) -> None:
    """A BIDS JSON file (description, sidecar), indented, its folder made if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


def read_description(root: Path) -> dict:
    """``dataset_description.json`` of ``root``; :class:`InputError` naming the path if missing or not JSON."""
    if not root.is_dir():
        raise InputError(f"{root}: BIDS root not found (not a directory)")
    path = root / "dataset_description.json"
    if not path.is_file():
        raise InputError(f"{path}: missing; a BIDS dataset needs a dataset_description.json at its root")
    try:
        desc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable ({e})") from None
    if not isinstance(desc, dict) or "Name" not in desc:
        raise InputError(f"{path}: not a BIDS dataset description (needs a 'Name')")
    return desc


def index(root: Path, subjects=None) -> pd.DataFrame:
    """The BIDS files of ``root`` (one row per file, entity columns as in bids2table)."""
    import bids2table
    import pyarrow as pa

    read_description(root)
    table = bids2table.index_dataset(root, include_subjects=subjects)
    table = table.drop_columns(["extra_entities", "root"])
    table = table.cast(pa.schema([pa.field(f.name, pa.string()) for f in table.schema]))  # run-01 -> "1"
    table = table.to_pandas()
    table["path"] = [str(root / p) for p in table["path"]]
    return table


INDEX_ENTITIES = ("run", "echo", "flip", "inv", "split", "chunk")  # numbers: run-01 is indexed as "1"


def _values(v, entity: str = "") -> list[str]:
    """Filter values as the index spells them (``run: "01"`` as ``"1"``)."""
    vals = [str(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
    return [str(int(x)) if entity in INDEX_ENTITIES and x.isdigit() else x for x in vals]


def apply_filters(table: pd.DataFrame, filters: dict) -> pd.DataFrame:
    """Rows whose entities take one of the listed values (``{"session": ["1", "2"], "run": 1}``)."""
    for name, wanted in (filters or {}).items():
        col = ENTITIES.get(name, name)
        if col not in table.columns:
            raise InputError(f"bids.filters: unknown entity {name!r} (use {sorted(ENTITIES)})")
        table = table[table[col].isin(_values(wanted, col))]
    return table


def unit_id(path: str) -> str:
    """The image's entities: ``.../sub-01_ses-2_T1w.nii.gz`` -> ``sub-01_ses-2``."""
    return re.sub(r"_T1w\.nii(\.gz)?$", "", Path(path).name)


def _participant_splits(root: Path) -> dict[str, str]:
    """Explicit splits from a ``split`` column of ``participants.tsv`` (empty cells: hashed)."""
    path = root / "participants.tsv"
    if not path.is_file():
        return {}
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if "participant_id" not in table.columns:
        raise InputError(f"{path}: no participant_id column")
    if "split" not in table.columns:
        return {}
    return dict(zip(table["participant_id"], table["split"]))


def _label_maps(labels_root: Path, desc) -> pd.DataFrame:
    table = index(labels_root)
    table = table[(table["suffix"] == "dseg") & table["ext"].isin(NIFTI)]
    table = table[table["space"].isna() | (table["space"] == "T1w")]
    if desc is not None:
        table = table[table["desc"].isin(_values(desc))]
    return table


def match_labels(images: pd.DataFrame, maps: pd.DataFrame) -> list[str]:
    """For each image, the path of the label map with the same subject and session whose other entities
    (acquisition, run, ...) are the image's or absent; the most specific wins, a tie is an error."""
    key = ["sub", "ses"]
    img = images[key + list(MATCH) + ["path"]].fillna({"ses": ""}).reset_index(drop=True)
    pairs = img.reset_index().merge(maps[key + list(MATCH) + ["path"]].fillna({"ses": ""}), on=key,
                                    suffixes=("", "_map"))
    fits = pd.Series(True, index=pairs.index)
    score = pd.Series(0, index=pairs.index)
    for e in MATCH:
        same = pairs[e] == pairs[f"{e}_map"]
        fits &= same | pairs[f"{e}_map"].isna()
        score += same.astype(int)
    pairs = pairs[fits].assign(score=score[fits])
    best = pairs[pairs["score"] == pairs.groupby("index")["score"].transform("max")]
    ties = best[best.duplicated("index", keep=False)]
    if len(ties):
        first = ties[ties["index"] == ties["index"].iloc[0]]
        raise InputError(f"several label maps match {first['path'].iloc[0]}: {sorted(first['path_map'])}; "
                         "choose one with bids.labels.desc")
    found = dict(zip(best["index"], best["path_map"]))
    return [found.get(i, "") for i in range(len(img))]


def dataset_name(root: Path, name=None) -> str:
    """The dataset id used in ``results/``: ``name`` if given, else the root folder's name (made safe)."""
    return name or re.sub(r"[^A-Za-z0-9_.-]", "_", root.resolve().name)


def discover(root, filters=None, labels=None, name=None) -> pd.DataFrame:
    """The cohort sheet of a BIDS dataset: ``dataset, subject, participant, image, labels, split``.

    ``filters`` select images by entity (``subject``, ``session``, ``acquisition``, ``run``, ...),
    ``labels`` (``{"root": derivatives folder, "desc": ...}``) adds label maps. Raises
    :class:`InputError` naming the path for a missing or broken description and when no T1w is found.
    """
    root = Path(root)
    others = {k: v for k, v in (filters or {}).items() if k != "subject"}
    subjects = (filters or {}).get("subject")
    table = index(root, [f"sub-{s}" for s in _values(subjects)] if subjects is not None else None)
    t1w = table[(table["datatype"] == "anat") & (table["suffix"] == "T1w") & table["ext"].isin(NIFTI)]
    t1w = apply_filters(t1w, others).sort_values("path")
    if t1w.empty:
        raise InputError(f"{root}: no T1w image found (sub-*/[ses-*/]anat/*_T1w.nii[.gz])"
                         + (f" matching filters {filters}" if filters else ""))
    sheet = pd.DataFrame({
        "dataset": dataset_name(root, name),
        "subject": [unit_id(p) for p in t1w["path"]],
        "participant": ["sub-" + s for s in t1w["sub"]],
        "image": list(t1w["path"]),
        "labels": "",
    })
    if labels:
        sheet["labels"] = match_labels(t1w, _label_maps(Path(labels["root"]), labels.get("desc")))
    splits = _participant_splits(root)
    sheet["split"] = [splits.get(p, "") for p in sheet["participant"]]
    return sheet
