"""Structure names of a label map: a TSV with columns ``label`` and ``name``, or numbers when there is none; and the
renumbering of neurite-oasis seg35 maps to FreeSurfer aseg."""

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


# neurite-oasis seg35 numbering (1..35) -> FreeSurfer aseg: left hemisphere, midline, right hemisphere
SEG35_TO_ASEG = {1: 2, 2: 3, 3: 4, 4: 5, 5: 7, 6: 8, 7: 10, 8: 11, 9: 12, 10: 13, 11: 14, 12: 15, 13: 16, 14: 17,
                 15: 18, 16: 26, 17: 28, 18: 30, 19: 31, 20: 41, 21: 42, 22: 43, 23: 44, 24: 46, 25: 47, 26: 49,
                 27: 50, 28: 51, 29: 52, 30: 53, 31: 54, 32: 58, 33: 60, 34: 62, 35: 63}


def aseg_from_seg35(seg35: np.ndarray) -> np.ndarray:
    """A seg35 label map (any shape) renumbered to FreeSurfer aseg by :data:`SEG35_TO_ASEG`, int32; 0 stays 0."""
    seg35 = np.asarray(seg35)
    if seg35.size and (seg35.min() < 0 or seg35.max() > max(SEG35_TO_ASEG)):
        raise InputError(f"seg35 labels lie in 0..{max(SEG35_TO_ASEG)}, got {seg35.min()}..{seg35.max()}")
    lut = np.zeros(max(SEG35_TO_ASEG) + 1, np.int32)
    lut[list(SEG35_TO_ASEG)] = list(SEG35_TO_ASEG.values())
    return lut[seg35.astype(np.int64)]
