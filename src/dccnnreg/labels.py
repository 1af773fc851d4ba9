"""Structure names of a label map: a TSV with columns ``label`` and ``name``, or numbers when there is none."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .nifti import InputError, load_volume


def label_values(path) -> tuple[int, ...]:
    """The non-zero values of a label-map file, ascending: its structures."""
    return tuple(int(k) for k in np.unique(load_volume(path, labels=True).data) if k > 0)


def read_label_names(path=None) -> dict[int, str]:
    """``label -> name`` from a TSV (columns ``label``, ``name``); ``{}`` when ``path`` is empty."""
    if not path:
        return {}
    df = pd.read_csv(path, sep="\t")
    missing = {"label", "name"} - set(df.columns)
    if missing:
        raise InputError(f"{path}: label names need columns 'label' and 'name' (missing {sorted(missing)})")
    return {int(k): str(v) for k, v in zip(df["label"], df["name"])}


def label_name(label: int, names: dict[int, str]) -> str:
    """The structure's name, or its number as text when the template has no names for it."""
    return names.get(int(label), str(int(label)))
