"""The cohort sheet: one row per image (a subject, or a session of one) with dataset, subject, participant,
image and optional labels / split; read from a TSV or discovered in a BIDS dataset (:mod:`dccnnreg.bids`)."""

from __future__ import annotations

import pandas as pd

from .nifti import InputError
from .split import SPLITS, assign_split

COLUMNS = ["dataset", "subject", "participant", "image", "labels", "split"]


def read_sheet(path, split_cfg: dict, exclude=()) -> pd.DataFrame:
    """Read and check a subject sheet (TSV: ``dataset, subject, image[, labels][, split][, participant]``).

    ``participant`` groups the rows of one person (e.g. sessions); it defaults to ``subject``. Raises
    :class:`InputError` naming the sheet for missing columns; see :func:`finish_sheet` for the rest.
    """
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    missing = {"dataset", "subject", "image"} - set(df.columns)
    if missing:
        raise InputError(f"{path}: missing columns {sorted(missing)}")
    for col in ("labels", "split", "participant"):
        if col not in df.columns:
            df[col] = ""
    return finish_sheet(df, path, split_cfg, exclude)


def finish_sheet(df: pd.DataFrame, source, split_cfg: dict, exclude=()) -> pd.DataFrame:
    """Check the sheet read from ``source`` and fill ``participant`` and ``split``.

    Raises :class:`InputError` naming ``source`` for empty fields, bad or duplicate ``(dataset, subject)``
    ids, unknown split names and a participant given two splits. Subjects listed in ``exclude``
    (``subject`` or ``dataset/subject``) are dropped (QC exclusion). Empty splits are hashed from the
    participant's id (explicit values win), so all rows of a participant land on the same side.
    """
    df = df[COLUMNS].apply(lambda c: c.str.strip())
    for col in ("dataset", "subject", "image"):
        empty = df.index[df[col] == ""].tolist()
        if empty:
            raise InputError(f"{source}: empty '{col}' in rows {[i + 2 for i in empty]}")
    bad_ids = df.loc[~df["subject"].str.fullmatch(r"[A-Za-z0-9_.-]+"), "subject"].tolist()
    if bad_ids:
        raise InputError(f"{source}: subject ids may hold letters, digits, '_', '.', '-' only: {bad_ids}")
    dup = df[df.duplicated(["dataset", "subject"], keep=False)]
    if len(dup):
        raise InputError(f"{source}: duplicate subject ids {sorted(set(dup['dataset'] + '/' + dup['subject']))}")
    bad = sorted(set(df["split"]) - set(SPLITS) - {""})
    if bad:
        raise InputError(f"{source}: unknown split values {bad} (use {SPLITS} or leave empty)")
    df.loc[df["participant"] == "", "participant"] = df["subject"]
    explicit = df[df["split"] != ""].groupby(["dataset", "participant"])["split"].agg(set)
    torn = sorted(f"{d}/{p}: {sorted(v)}" for (d, p), v in explicit.items() if len(v) > 1)
    if torn:
        raise InputError(f"{source}: a participant's rows must share one split: {'; '.join(torn)}")
    df = df[~_excluded(df, exclude)].copy()
    given = {k: next(iter(v)) for k, v in explicit.items()}
    auto = df["split"] == ""
    df.loc[auto, "split"] = [
        given.get((d, p)) or assign_split(d, p, split_cfg["train"], split_cfg["val"], split_cfg.get("salt", ""))
        for d, p in zip(df.loc[auto, "dataset"], df.loc[auto, "participant"])
    ]
    return df.set_index(["dataset", "subject"], drop=False).sort_index()


def cohort_sheet(config: dict) -> pd.DataFrame:
    """The cohort of a workflow config: its subject sheet (``subjects``) or its BIDS dataset (``bids``)."""
    if config.get("bids"):
        from .bids import discover

        b = config["bids"]
        df = discover(b["root"], b.get("filters"), b.get("labels"), b.get("dataset"))
        return finish_sheet(df, b["root"], config["split"])
    return read_sheet(config["subjects"], config["split"])


def _excluded(df: pd.DataFrame, exclude) -> pd.Series:
    ex = set(exclude)
    return df["subject"].isin(ex) | (df["dataset"] + "/" + df["subject"]).isin(ex)


def excluded_ids(df: pd.DataFrame, exclude) -> list[tuple[str, str]]:
    """``(dataset, subject)`` of the sheet's rows that ``exclude`` names (``subject`` or ``dataset/subject``)."""
    return list(df.index[_excluded(df, exclude).to_numpy()])
