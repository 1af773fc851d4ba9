"""The subject sheet: one row per subject with dataset, subject, image and optional labels / split."""

from __future__ import annotations

import pandas as pd

from .nifti import InputError
from .split import SPLITS, assign_split

COLUMNS = ["dataset", "subject", "image", "labels", "split"]


def read_sheet(path, split_cfg: dict, exclude=()) -> pd.DataFrame:
    """Read and check the sheet; fill the ``split`` column (explicit values win over the hash).

    Raises :class:`InputError` naming the sheet for missing columns, empty fields, duplicate
    ``(dataset, subject)`` ids and unknown split names. Subjects listed in ``exclude``
    (``subject`` or ``dataset/subject``) are dropped (QC exclusion).
    """
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    missing = {"dataset", "subject", "image"} - set(df.columns)
    if missing:
        raise InputError(f"{path}: missing columns {sorted(missing)}")
    for col in ("labels", "split"):
        if col not in df.columns:
            df[col] = ""
    df = df[COLUMNS].apply(lambda c: c.str.strip())
    for col in ("dataset", "subject", "image"):
        empty = df.index[df[col] == ""].tolist()
        if empty:
            raise InputError(f"{path}: empty '{col}' in rows {[i + 2 for i in empty]}")
    bad_ids = df.loc[~df["subject"].str.fullmatch(r"[A-Za-z0-9_.-]+"), "subject"].tolist()
    if bad_ids:
        raise InputError(f"{path}: subject ids may hold letters, digits, '_', '.', '-' only: {bad_ids}")
    dup = df[df.duplicated(["dataset", "subject"], keep=False)]
    if len(dup):
        raise InputError(f"{path}: duplicate subject ids {sorted(set(dup['dataset'] + '/' + dup['subject']))}")
    bad = sorted(set(df["split"]) - set(SPLITS) - {""})
    if bad:
        raise InputError(f"{path}: unknown split values {bad} (use {SPLITS} or leave empty)")
    df = df[~_excluded(df, exclude)].copy()
    auto = df["split"] == ""
    df.loc[auto, "split"] = [
        assign_split(d, s, split_cfg["train"], split_cfg["val"], split_cfg.get("salt", ""))
        for d, s in zip(df.loc[auto, "dataset"], df.loc[auto, "subject"])
    ]
    return df.set_index(["dataset", "subject"], drop=False).sort_index()


def _excluded(df: pd.DataFrame, exclude) -> pd.Series:
    ex = set(exclude)
    return df["subject"].isin(ex) | (df["dataset"] + "/" + df["subject"]).isin(ex)


def excluded_ids(df: pd.DataFrame, exclude) -> list[tuple[str, str]]:
    """``(dataset, subject)`` of the sheet's rows that ``exclude`` names (``subject`` or ``dataset/subject``)."""
    return list(df.index[_excluded(df, exclude).to_numpy()])
